"""The Ray engine: each stream in a Ray actor, on a cluster or on a local Ray instance.

``RayEngine(address)`` joins the cluster at ``address`` (``auto``, ``ray://host:10001``), or
without one starts a local Ray instance, which :meth:`RayEngine.close` shuts down again (a
cluster it joined is only left). The supervisor drives it exactly as it drives local workers:

- a stream is one actor (:class:`~framepipe.streams.ray_actor.StreamActor`) with
  ``--ray-cpus-per-stream`` CPUs and ``max_restarts`` set to the stream's restart attempts. Its
  constructor starts the stream, so when Ray restarts it (its process died, its node failed) it
  reopens the source and goes on, on whichever node Ray chose;
- the driver keeps one poll in flight per actor (:class:`RayWorker`): each brings the actor's
  messages and a bounded batch of its log records, which go to the driver's logger, so a slow
  driver never makes an actor buffer without bound;
- a poll that finds the actor restarted ends that attempt for the supervisor, which reports it
  as it reports a dead local worker; the supervisor's restart then follows the restarted actor
  (for a stream that failed with its actor alive, the restart asks Ray to restart the actor:
  every restart the report shows is one of the actor's ``max_restarts``).

The driver's clock and an actor's are different clocks on different nodes: each reply carries
the actor's clock, and a snapshot's ``last_frame_at`` is moved onto the driver's.

In a set that changes while it runs (a service), :meth:`RayEngine.admit` hears of a stream
that joins (its restart attempts become its actor's ``max_restarts``) and
:meth:`RayEngine.release` of one that left: its actor ends, its CPUs go back, and nothing is
kept under its name, so a stream added later under that name starts as a new one.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from framepipe._text import one_line
from framepipe.streams._messages import Snapshot, WorkerMessage
from framepipe.streams.engine import WorkerHandle
from framepipe.streams.job import StreamJob
from framepipe.streams.ray_actor import PollReply, StreamActor
from framepipe.streams.ray_logs import LogPump, channel_settings, driver_core
from framepipe.streams.ray_output import RayMessages
from framepipe.streams.ray_signals import sigterm_kept
from framepipe.streams.ray_start import start_local

__all__ = [
    "RAY_INSTALL_HINT",
    "RayEngine",
    "RayNotInstalled",
    "RayStartError",
    "RayWorker",
    "check_ray_address",
    "parse_ray_address",
    "require_ray",
]

RAY_INSTALL_HINT = "pip install 'framepipe[ray]'"
PROBE_TIMEOUT_S = 5.0  # a cluster's address must answer a TCP connect this soon
POLL_WAIT_S = 0.25  # an actor answers a poll at once when it has news, else after this long
PENDING_WARN_S = 15.0  # an actor not started by then: say it waits for the cluster's CPUs
LOCAL_OBJECT_STORE_BYTES = 100 * 2**20  # only messages travel: Ray's minimum is 75 MiB
# Ray starts workers at niceness 15, below everything else on the node: a stream's frame loop
# has a budget to keep, so its actor runs at the default priority, as a local worker does.
_RUNTIME_ENV = {"env_vars": {"RAY_worker_niceness": "0"}}
# What a poll meets when the actor's process is gone (its connection fails, or, when the poll
# comes later, Ray has already started the next one): no cause in itself.
_CONNECTION_LOST = (
    "RpcError", "Socket closed", "Connection reset", "connection error",
    "The actor was restarted",
)  # fmt: skip
# A dead actor's summary comes from its last snapshot; its process's exit status never reaches
# the driver: exit_code() ends the attempt with this code, and `death` says what happened (the
# supervisor then reports no exit status).
DIED = 1


class RayNotInstalled(ImportError):
    """``engine="ray"`` without Ray installed."""


class RayStartError(RuntimeError):
    """Ray could not be started here, or the cluster could not be joined."""


def require_ray() -> ModuleType:
    """The ``ray`` module; RayNotInstalled saying how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise RayNotInstalled(
            f"the ray engine needs Ray, which is not installed: {RAY_INSTALL_HINT}"
        ) from exc
    return ray


def parse_ray_address(text: str) -> str:
    """A cluster's address as Ray takes it: ``auto``, ``local``, ``host:port`` or
    ``scheme://host[:port]`` (``ray://`` for Ray Client); ValueError for anything else."""
    address = text.strip()
    if address in ("auto", "local"):
        return address
    scheme, sep, rest = address.partition("://")
    if sep:
        well_formed = scheme.isidentifier() and bool(rest) and not any(c.isspace() for c in rest)
    else:
        host, _, port = address.rpartition(":")
        well_formed = (
            bool(host.strip("[]")) and not any(c.isspace() for c in host)
            and port.isdigit() and 0 < int(port) < 65536
        )  # fmt: skip
    if not well_formed:
        msg = f"must be 'auto', host:port or ray://host:port, but got {text!r}"
        raise ValueError(msg)
    return address


def check_ray_address(address: str | None) -> None:
    """RayStartError when nothing answers at ``address``'s host and port, within seconds
    (Ray itself would retry for minutes, printing as it goes); ValueError when it is malformed.
    None, ``auto`` and ``local`` are Ray's to find."""
    if address is None:
        return
    address = parse_ray_address(address)
    problem = _unreachable(address)
    if problem is not None:
        raise RayStartError(f"cannot join the Ray cluster at {address}: {problem}")


@dataclass
class _Slot:
    """One stream's actor across its attempts (the supervisor's thread only)."""

    actor: Any
    restarts_left: int
    token: str | None = None  # the run last seen
    alive: bool = True  # False once Ray said it is dead for good, or we killed it
    ended_alive: bool = False  # the last run ended by itself (the actor still stands)


class RayEngine:
    """Runs each stream in a Ray actor (see the module's description)."""

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        cpus_per_stream: float = 1.0,
        *,
        restart_attempts: Mapping[str, int] | None = None,
        logger: Any = None,
        resources: Mapping[str, Mapping[str, float]] | None = None,
    ) -> None:
        if (
            isinstance(cpus_per_stream, bool)
            or not isinstance(cpus_per_stream, (int, float))
            or not (math.isfinite(cpus_per_stream) and cpus_per_stream > 0)
        ):
            raise ValueError(
                f"cpus_per_stream must be a positive number, but got {cpus_per_stream!r}"
            )
        if address is not None:
            address = parse_ray_address(address)
        self._ray = require_ray()
        self.address = address
        self.cpus_per_stream = float(cpus_per_stream)
        self._attempts = dict(restart_attempts or {})
        self._resources = _checked_resources(resources or {})
        if logger is None:
            from framepipe.logging import get_logger

            logger = get_logger("framepipe.streams")
        self._log = logger
        self._slots: dict[str, _Slot] = {}
        self._created = 0
        self._closed = False
        # Actors are named framepipe-<run>-<stream>: `ray list actors` shows whose they are.
        self.run_id = uuid.uuid4().hex[:8]
        self._sigterm: Any = None  # the handler ray.init replaced, given back at close()
        self.started_local = False  # this engine started the Ray instance it uses
        self._joined = False  # this engine called ray.init (and so calls ray.shutdown)
        self._messages = RayMessages(logger)  # Ray's printing, while joined: into the log
        self.start_up_s = self._connect(max(1, len(self._attempts)))
        self._actor_class = self._ray.remote(StreamActor)
        # Every actor's records go through the driver's logger: its settings, its one writer.
        self._log_settings = channel_settings(logger)
        self._pump = LogPump(driver_core(logger), self._actors_at_once(len(self._attempts)))

    def _actors_at_once(self, planned: int) -> int:
        """How many actors may run at once: the streams planned, or as many as the cluster's
        CPUs hold when that is more (streams may join a running set; one that finds no CPU
        waits, and sends nothing meanwhile)."""
        try:
            cpus = float(self._ray.cluster_resources().get("CPU", 0.0))
        except Exception:  # the cluster cannot say: the planned streams it is
            cpus = 0.0
        return max(1, planned, int(cpus // self.cpus_per_stream))

    def _connect(self, streams: int) -> float:
        ray = self._ray
        began = time.perf_counter()
        if ray.is_initialized():
            return 0.0  # the application's own connection: used, never shut down
        options: dict[str, Any] = {"logging_level": logging.ERROR, "log_to_driver": False}
        local = self.address is None and not os.environ.get("RAY_ADDRESS")
        if local:
            cpus = max(os.cpu_count() or 1, math.ceil(streams * self.cpus_per_stream))
            options.update(
                num_cpus=cpus,
                object_store_memory=LOCAL_OBJECT_STORE_BYTES,
                include_dashboard=False,
            )
        address = self.address or os.environ.get("RAY_ADDRESS")
        where = "start a local Ray instance" if local else f"join the Ray cluster at {address}"
        if address is not None:
            problem = _unreachable(address)
            if problem is not None:  # Ray itself would retry, printing, for minutes
                raise RayStartError(f"cannot {where}: {problem}")
        if threading.current_thread() is threading.main_thread():
            self._sigterm = signal.getsignal(signal.SIGTERM)
        self._messages.install()
        try:
            if local:  # "local": a Ray instance of its own, never another program's running one
                start_local(lambda: self._init("local", options), self._log)
            else:
                self._init(self.address, options)
        except Exception as exc:
            self._messages.remove()
            raise RayStartError(f"cannot {where}: {one_line(exc)}") from exc
        self._joined, self.started_local = True, local
        took = time.perf_counter() - began
        what = "started a local Ray instance" if local else "joined the Ray cluster at %s"
        self._log.info(f"{what} in %.1f s", *([] if local else [self.address]), took)
        return took

    def _init(self, address: str | None, options: dict[str, Any]) -> None:
        """``ray.init``, leaving SIGTERM to the application's handler when it has one.

        Ray's handlers are kept off SIGTERM meanwhile (:mod:`~framepipe.streams.ray_signals`).
        On a Ray where that cannot be done, its own handler (``sys.exit``) comes first thing in
        ``ray.init``: a SIGTERM then is handed to the application's handler instead, and Ray
        started again; once started, the application's handler is put back.
        """
        ray, ours = self._ray, self._sigterm
        while True:
            try:
                with sigterm_kept(ray, ours):
                    ray.init(address=address, **options)
            except SystemExit as exc:
                if exc.code != signal.SIGTERM or not callable(ours):
                    raise
                ray.shutdown()  # whatever had started
                ours(signal.SIGTERM, None)
                continue
            if callable(ours):
                signal.signal(signal.SIGTERM, ours)
            return

    def start(self, job: StreamJob) -> RayWorker:
        if self._closed:
            raise RuntimeError("the Ray engine was closed")
        if job.config.output is not None:  # written on the actor's node, at this same path
            output = os.path.abspath(job.config.output)
            job = dataclasses.replace(job, config=dataclasses.replace(job.config, output=output))
        # The actor logs through this engine, never a socket address (nor its key) of this host.
        job = dataclasses.replace(job, log_target=None)
        slot = self._slots.get(job.name)
        refuse = None
        if slot is not None and slot.alive and slot.restarts_left > 0:
            slot.restarts_left -= 1  # one of the actor's max_restarts, used now or by Ray already
            refuse = slot.token  # the run that ended: its late replies are not this attempt's
            if slot.ended_alive:  # it failed without dying: Ray's restart reopens the source
                self._ray.kill(slot.actor, no_restart=False)
        else:
            if slot is not None:
                self._kill(slot)
            attempts = self._attempts.get(job.name, 0)
            try:
                actor = self._new_actor(job, attempts, numbered=slot is not None)
            except ValueError:  # the name's last actor, released a moment ago, still holds it
                actor = self._new_actor(job, attempts, numbered=True)
            slot = self._slots[job.name] = _Slot(actor, attempts)
            self._pump.expect(len(self._slots))
        slot.ended_alive = False
        return RayWorker(self, slot, job, refuse)

    def _new_actor(self, job: StreamJob, attempts: int, *, numbered: bool) -> Any:
        """The stream's actor, named framepipe-<run>-<stream>, or with a number after it when
        the stream had an actor before (a name is taken until its actor has died)."""
        self._created += 1
        name = f"framepipe-{self.run_id}-{job.name}"
        return self._actor_class.options(
            name=f"{name}-{self._created}" if numbered else name,
            num_cpus=self.cpus_per_stream,
            max_restarts=attempts,
            max_task_retries=0,
            max_concurrency=4,  # a stop or a log answer never waits behind a waiting poll
            runtime_env=_RUNTIME_ENV,
            resources=self._resources.get(job.name, {}),
        ).remote(job, self._log_settings)

    def admit(self, name: str, restart_attempts: int) -> None:
        """A stream joins the running set: Ray may restart its actor ``restart_attempts``
        times (the restarts the supervisor allows it)."""
        if (
            isinstance(restart_attempts, bool)
            or not isinstance(restart_attempts, int)
            or restart_attempts < 0
        ):
            raise ValueError(
                f"restart_attempts must be an integer >= 0, but got {restart_attempts!r}"
            )
        self._attempts[name] = restart_attempts

    def release(self, name: str) -> None:
        """A stream left the set: its actor ends now (its CPUs go back) if it still stands,
        and nothing is kept under its name. Custom ``resources`` given for the name stay: they
        are where any stream of that name may run."""
        self._attempts.pop(name, None)
        slot = self._slots.pop(name, None)
        if slot is not None:
            self._kill(slot)

    def wait(self, workers: Sequence[WorkerHandle], timeout: float) -> None:
        refs = [w.ref for w in workers if isinstance(w, RayWorker) and w.ref is not None]
        if refs:
            self._ray.wait(refs, num_returns=1, timeout=timeout)
        else:
            time.sleep(timeout)  # nothing runs (a restart is due later): the caller's pace

    def close(self) -> None:
        """End every actor; shut the local Ray instance down (or leave the cluster). Idempotent."""
        if self._closed:
            return
        self._closed = True
        for slot in self._slots.values():
            self._kill(slot)
        self._pump.stop()
        if self._joined:
            with sigterm_kept(self._ray, signal.getsignal(signal.SIGTERM)):
                self._ray.shutdown()
            self._messages.remove()
            if self._sigterm is not None and threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGTERM, self._sigterm)  # ray.init's handler goes with it

    def _node_alive(self, node_id: str) -> bool:
        """Whether Ray counts the node alive (True when it cannot say)."""
        try:
            nodes = self._ray.nodes()
        except Exception:
            return True
        for node in nodes:
            if node.get("NodeID") == node_id:
                return bool(node.get("Alive"))
        return True

    def _kill(self, slot: _Slot) -> None:
        if slot.alive:
            slot.alive = False
            try:
                self._ray.kill(slot.actor, no_restart=True)
            except Exception:  # already gone, or the cluster is: nothing is left to end
                pass


class RayWorker:
    """The supervisor's handle on one attempt of a stream: one run of its actor."""

    def __init__(self, engine: RayEngine, slot: _Slot, job: StreamJob, refuse: str | None) -> None:
        self._engine = engine
        self._ray = engine._ray
        self._slot = slot
        self._name = job.name
        self._cpus = engine.cpus_per_stream
        self._token: str | None = None
        self._refuse = refuse
        self._pid: int | None = None
        self.node: str | None = None
        self._node_id = ""  # Ray's ID of that node
        self._code: int | None = None
        self.death: str | None = None  # how the attempt ended when the actor died
        self._trouble: str | None = None  # the last error a poll met, until a reply comes
        self._repoll_at: float | None = None  # Ray restarts the actor: ask again from then on
        self._stop_ref: Any = None
        self._answers: _Answers | None = None
        self._began = time.monotonic()
        self._warned = False
        self.ref: Any = self._poll()

    @property
    def pid(self) -> int | None:
        return self._pid

    def messages(self) -> list[WorkerMessage]:
        if self._repoll_at is not None and time.monotonic() >= self._repoll_at:
            self._repoll_at = None
            self.ref = self._poll()
        ref = self.ref
        if ref is None:
            return []
        ready, _ = self._ray.wait([ref], timeout=0)
        if not ready:
            self._warn_if_pending()
            return []
        self.ref = None
        try:
            reply = self._ray.get(ref)
        except self._ray.exceptions.RayActorError as exc:
            self._lost(exc)
            return []
        except self._ray.exceptions.RayError as exc:  # poll itself failed: a bug, not a death
            self._end(f"the actor failed: {one_line(exc)}")
            return []
        return self._take(reply)

    def exit_code(self) -> int | None:
        return self._code

    def stop(self) -> None:
        if self._code is None and self._stop_ref is None:
            self._stop_ref = self._slot.actor.stop.remote()

    def kill(self) -> None:
        self._engine._kill(self._slot)

    def request_preview(self) -> None:
        """Ask the actor for previews for a while (someone watches the stream)."""
        if self._code is None:
            self._slot.actor.preview.remote()  # no answer to wait for

    def close(self) -> None:
        # Ended cleanly, or failed with no restart of its own left: Ray will not restart this
        # actor (a restart of the stream starts a new one), so its CPUs go back now.
        if self._code == 0 or (self._code is not None and self._slot.restarts_left == 0):
            self._engine._kill(self._slot)
        self.ref = self._stop_ref = None

    def _poll(self) -> Any:
        return self._slot.actor.poll.remote(self._token, self._refuse, POLL_WAIT_S)

    def _take(self, reply: PollReply) -> list[WorkerMessage]:
        if reply.stale:
            if self._token is not None:  # the run this attempt followed is gone
                self._end(self._restarted(reply))
            else:  # the ended run still answers: the restart asked of Ray is on its way
                self.ref = self._poll()
            return []
        if self._answers is None:
            self._answers = _Answers(self._slot.actor, reply.token)
            self._engine._log.info(
                "stream %s: actor pid %d on node %s", self._name, reply.pid, reply.node
            )
        self._token = self._slot.token = reply.token
        self._pid, self.node, self._trouble = reply.pid, reply.node, None
        self._node_id = reply.node_id
        if reply.log:
            self._engine._pump.put(self._answers, list(reply.log), reply.node)
        offset = time.perf_counter() - reply.clock
        messages = [_on_driver_clock(message, offset) for message in reply.messages]
        if reply.exit_code is None:
            self.ref = self._poll()
        else:
            self._code = reply.exit_code
            self._slot.ended_alive = True
        return messages

    def _lost(self, exc: BaseException) -> None:
        """A poll failed: ask again once. A new run means Ray restarted the actor (this attempt
        ended); the same run, a passing fault; a second failure, the actor is dead for good.

        Ray says an actor it is restarting is *unavailable* (a poll then fails at once, however
        long the restart takes): that is no failure of its own, so the poll is asked again every
        ``POLL_WAIT_S`` until the restarted run answers or Ray says the actor died."""
        cause = _cause(exc)
        unavailable = getattr(self._ray.exceptions, "ActorUnavailableError", ())
        if isinstance(exc, unavailable) and self._slot.alive:
            self._trouble = self._trouble or cause  # the first says how the run ended
            self._repoll_at = time.monotonic() + POLL_WAIT_S
            return
        if self._trouble is None and self._slot.alive:
            self._trouble = cause
            self.ref = self._poll()
            return
        self._slot.alive = False
        self._end(f"the actor died: {cause}")

    def _restarted(self, reply: PollReply) -> str:
        why = self._why_it_died()
        return f"the actor died ({why}); Ray restarted it on node {reply.node}"

    def _why_it_died(self) -> str:
        """The cause of the last run's end, in the place of the symptom its poll met.

        A poll that finds the process gone only sees its connection fail (``RpcError: Socket
        closed``), whether the node went down or the process was killed: the node's liveness,
        as Ray's control store has it, tells the two apart."""
        if self._node_id and not self._engine._node_alive(self._node_id):
            return f"its node {self.node} was lost"
        trouble = self._trouble or ""
        if not trouble or any(mark in trouble for mark in _CONNECTION_LOST):
            return "its process ended without a word: killed (SIGKILL, out of memory) or crashed"
        return trouble

    def _end(self, why: str) -> None:
        self.death = why
        self._code = DIED
        self.ref = None

    def _warn_if_pending(self) -> None:
        if self._warned or self._token is not None:
            return
        if time.monotonic() - self._began >= PENDING_WARN_S:
            self._warned = True
            self._engine._log.warning(
                "stream %s: its actor has not started after %.0f s: the cluster may have no "
                "node with %g free CPUs (--ray-cpus-per-stream)",
                self._name, PENDING_WARN_S, self._cpus,
            )  # fmt: skip


class _Answers:
    """Sends the driver's answers to one run of an actor, numbered (the pump's thread only)."""

    def __init__(self, actor: Any, token: str) -> None:
        self._actor = actor
        self._token = token
        self._number = 0

    def __call__(self, answers: list[tuple[Any, ...]]) -> None:
        self._actor.answer.remote(self._token, self._number, answers)
        self._number += 1


def _checked_resources(
    resources: Mapping[str, Mapping[str, float]],
) -> dict[str, dict[str, float]]:
    """Each stream's custom Ray resources (``{"door": {"site-a": 1}}``): its actor runs, and is
    restarted, only on a node that offers them. ValueError for anything but positive numbers."""
    checked: dict[str, dict[str, float]] = {}
    for stream, wanted in resources.items():
        for name, amount in wanted.items():
            if (
                not isinstance(name, str) or not name
                or isinstance(amount, bool) or not isinstance(amount, (int, float))
                or not (math.isfinite(amount) and amount > 0)
            ):  # fmt: skip
                msg = (
                    f"resources of stream {stream!r} must map names to positive numbers, but "
                    f"got {name!r}: {amount!r}"
                )
                raise ValueError(msg)
        checked[stream] = {name: float(amount) for name, amount in wanted.items()}
    return checked


def _unreachable(address: str) -> str | None:
    """Why nothing answers at a cluster's ``host:port`` (or ``ray://host:port``); None when
    something does, or when the address names no port (``auto``: Ray finds it)."""
    target = address.removeprefix("ray://")
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        return None
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=PROBE_TIMEOUT_S):
            return None
    except OSError as exc:
        return f"nothing answers at {target} ({exc.strerror or exc})"


def _on_driver_clock(message: WorkerMessage, offset: float) -> WorkerMessage:
    if isinstance(message, Snapshot) and message.snapshot.last_frame_at is not None:
        moved = message.snapshot.last_frame_at + offset
        return Snapshot(dataclasses.replace(message.snapshot, last_frame_at=moved))
    return message


def _cause(exc: BaseException) -> str:
    """Ray's reason in a few words: what follows 'The actor is dead because' or 'temporarily
    unavailable:', without the boilerplate around it; else the first line."""
    text = " ".join(str(exc).split())
    for marker in ("The actor is dead because ", "temporarily unavailable: "):
        if marker in text:
            text = text.split(marker, 1)[1]
            break
    text = text.split(" The task may or may not have been executed", 1)[0]
    reason = text.split(". ", 1)[0].strip().rstrip(".")
    return reason or type(exc).__name__
