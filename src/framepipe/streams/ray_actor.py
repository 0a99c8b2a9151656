"""The actor side of the Ray engine: one stream, run by the same code as a local worker.

:class:`StreamActor` is a plain class; the engine makes it a Ray actor (``ray.remote``) when it
starts one, so this module imports without Ray. Its constructor starts the stream: its logger
connected to the driver's (:mod:`framepipe.streams.ray_logs`), then ``run_stream`` (the local
worker's own function) on a thread of the actor, which opens the source and runs the pipeline.
A restarted actor runs its constructor again, so it reopens the source by itself.

The driver learns everything by polling: :meth:`StreamActor.poll` waits until there is news (a
message, a log batch, the end) or ``wait_s`` passes, then returns one :class:`PollReply`.
Messages are the local worker's (``Started``, ``Snapshot`` at most once a second,
``Finished``); only the latest snapshot is kept, and the log sender has at most a few batches
unanswered, so nothing piles up between polls. The driver answers log batches through
:meth:`StreamActor.answer`.

Each run of the constructor gets a new ``token``: a poll names the token it expects (or the one
it does not want), so replies of a restarted actor are never mistaken for the run before.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from framepipe.streams._messages import Finished, Preview, Results, Snapshot, Started, WorkerMessage
from framepipe.streams._preview import PreviewSender
from framepipe.streams._worker import Stopper, SupervisorLink, run_stream
from framepipe.streams.job import StreamJob
from framepipe.streams.ray_logs import ActorConnection, connect_actor

__all__ = [
    "FLUSH_WAIT_S",
    "RESULTS_OUTBOX_SIZE",
    "PollReply",
    "StreamActor",
    "node_name",
    "ray_node",
]

FLUSH_WAIT_S = 60.0  # after the run: how long the actor waits for the driver to write its log
# Results lines held for the driver's next poll (the stream's own queue holds as many again).
RESULTS_OUTBOX_SIZE = 1024
_DRAIN_TICK_S = 0.05  # once the run ended, polls return this soon while records remain


def node_name() -> str:
    """What the summary and the log call this node: see :func:`ray_node`."""
    return ray_node()[1]


def ray_node() -> tuple[str, str]:
    """This node's Ray ID ('' outside Ray) and its name: the one Ray was given for it (``ray
    start --node-name``; several nodes on one host need one each), else its host name."""
    try:
        import ray

        here = ray.get_runtime_context().get_node_id()
        state: Any = ray  # ray.nodes() has no annotations
        for node in state.nodes():
            if node.get("NodeID") == here:
                name = node.get("NodeName")
                if name and name != node.get("NodeManagerAddress"):  # Ray's default: the IP
                    return here, str(name)
                return here, socket.gethostname()
    except Exception:  # outside Ray, or its state cannot be read: the host is still right
        pass
    return "", socket.gethostname()


@dataclass(frozen=True)
class PollReply:
    """What one poll brought: the actor's run (``token``), its messages and log channel messages.

    ``exit_code`` is set once the run ended and the driver wrote every record: 0 when the stream
    ended cleanly, 1 when it failed (as a local worker's exit code).
    ``stale``: the actor runs another token than the poll asked for; nothing was taken.
    ``clock`` is the actor's ``time.perf_counter()`` when it replied. ``node_id``: the Ray ID
    of the node named ``node``.
    """

    token: str
    pid: int
    node: str
    messages: tuple[WorkerMessage, ...] = ()
    log: tuple[tuple[Any, ...], ...] = ()
    exit_code: int | None = None
    clock: float = 0.0
    stale: bool = False
    node_id: str = ""


class _Outbox(SupervisorLink):
    """Where ``run_stream`` sends its messages: kept for the next poll, the latest snapshot only.

    Results lines wait here for the driver too, at most ``RESULTS_OUTBOX_SIZE``: beyond that a
    line is dropped and counted, never waited on (the stream's results thread sends them). The
    stream's writer counted each line it handed over as written, so the snapshots and the
    report passed on count the dropped ones as dropped instead."""

    def __init__(self, news: threading.Event) -> None:  # no pipe: the driver polls instead
        self._lock = threading.Lock()
        self._news = news
        self._items: list[WorkerMessage] = []
        self._results = 0  # Results among the items
        self.results_dropped = 0

    def send(self, message: WorkerMessage) -> bool:
        with self._lock:
            if isinstance(message, Results):
                if self._results >= RESULTS_OUTBOX_SIZE:
                    self.results_dropped += 1
                    return True  # counted here: the stream's writer has nothing to add
                self._results += 1
            elif isinstance(message, (Snapshot, Preview)):  # only the latest of each is news
                kind = type(message)
                self._items = [item for item in self._items if not isinstance(item, kind)]
            message = self._counted(message)
            self._items.append(message)
        self._news.set()
        return True

    def recv(self) -> object:
        raise EOFError("an actor's stops come by method call")

    def drain(self) -> list[WorkerMessage]:
        with self._lock:
            items, self._items, self._results = self._items, [], 0
        return items

    def empty(self) -> bool:
        return not self._items

    def _counted(self, message: WorkerMessage) -> WorkerMessage:
        """``message`` with the lines dropped here moved from written to dropped."""
        lost = self.results_dropped
        if not lost:
            return message
        if isinstance(message, Snapshot):
            snapshot = message.snapshot
            return Snapshot(
                dataclasses.replace(
                    snapshot,
                    results_written=max(0, snapshot.results_written - lost),
                    results_dropped=snapshot.results_dropped + lost,
                )
            )
        if isinstance(message, Finished) and message.summary is not None:
            summary = message.summary
            summary = dataclasses.replace(
                summary,
                results_written=max(0, summary.results_written - lost),
                results_dropped=summary.results_dropped + lost,
            )
            return dataclasses.replace(message, summary=summary)
        return message


class StreamActor:
    """One stream in a Ray actor; the constructor starts the run. ``log_settings``: the driver's
    logger's (``ray_logs.channel_settings``). Methods: ``poll``, ``answer``, ``stop``,
    ``preview``."""

    def __init__(self, job: StreamJob, log_settings: dict[str, Any]) -> None:
        self.token = uuid.uuid4().hex
        self.pid = os.getpid()
        self.node_id, self.node = ray_node()
        self._news = threading.Event()
        self._outbox = _Outbox(self._news)
        self._stopper = Stopper()
        self._previews = PreviewSender()
        self._channel = ActorConnection(self._news)
        self._done = threading.Event()
        self._code = 1
        self._log = connect_actor(self._channel, job.name, log_settings)
        self._outbox.send(Started(self.pid))
        # The local worker's run, without its own logging setup: the channel above is the log.
        self._thread = threading.Thread(
            target=self._run,
            args=(dataclasses.replace(job, log_target=None),),
            name="framepipe-stream",
            daemon=True,
        )
        self._thread.start()

    def poll(self, expect: str | None, refuse: str | None, wait_s: float) -> PollReply:
        """The news since the last poll, after waiting up to ``wait_s`` for some.

        ``expect``: the token the caller follows (None: any); ``refuse``: a token it has seen
        end. Either mismatch gives a ``stale`` reply, and the news stays for the right poll.
        """
        if expect is not None and self.token != expect:
            return PollReply(self.token, self.pid, self.node, stale=True)
        if self.token == refuse:  # a restart of this actor was asked for: it is on its way
            time.sleep(wait_s)
            return PollReply(self.token, self.pid, self.node, stale=True)
        done = self._done.is_set()
        self._news.wait(_DRAIN_TICK_S if done else wait_s)
        self._news.clear()
        messages = tuple(self._outbox.drain())
        log = tuple(self._channel.take())
        exit_code = None
        if done and self._outbox.empty() and not self._channel.waiting():
            exit_code = self._code
        return PollReply(
            self.token, self.pid, self.node, messages, log, exit_code, time.perf_counter(),
            node_id=self.node_id,
        )

    def answer(self, token: str, number: int, answers: list[tuple[Any, ...]]) -> None:
        """The driver's answers to this run's log messages (another run's are not ours)."""
        if token == self.token:
            self._channel.answer(number, answers)

    def stop(self) -> None:
        """Finish the current frame, then end the run (the actor stays for the last polls)."""
        self._stopper.stop()

    def preview(self) -> None:
        """Someone watches: send the latest frame as JPEG for a while (at most 4 a second)."""
        self._previews.want()

    def _run(self, job: StreamJob) -> None:
        try:
            self._code = run_stream(job, self._outbox, self._stopper, self._previews)
        finally:
            # Every record accepted so far written by the driver (it answers meanwhile), with
            # the notice of any the actor's queue dropped.
            deadline = time.monotonic() + FLUSH_WAIT_S
            while not self._log.flush(1.0) and time.monotonic() < deadline:
                pass
            self._done.set()
            self._news.set()
