"""The supervisor of a stream set that changes while it runs.

:class:`LiveSetSupervisor` is the :class:`~framepipe.streams._supervisor.Supervisor` with a
command queue: once per step, on its own thread, it applies what other threads asked, in order:
add a stream (started at once), remove one (stopped after its current frame, killed when it has
not stopped within the stop timeout; the answer, its :class:`StreamResult`, comes once its
worker has ended, so its output is closed), restart one (stopped the same way, then started
again under its name, its counters going on), list them. A removed stream leaves nothing behind:
its attempts, snapshots and preview go with it, and an engine that keeps something per
stream (:class:`StreamMembers`: the Ray engine's actor) hears that it joined and that it left.

A stream added with ``results`` joins the file its config names (opened then when no stream
writes there yet; a file that cannot be opened refuses the stream: ``ResultsRefused``, a
ValueError). A removed one is answered once its file has taken its last line, or after
``SETTLE_TIMEOUT_S`` (its lines still queued then dropped and counted), with its final counts.

In ``service`` mode the set does not end when every stream has ended (an ended file stream stays
listed as ``ended``): only a stop ends it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from framepipe.streams._commands import Command, CommandQueue, Reply
from framepipe.streams._results import SETTLE_TIMEOUT_S
from framepipe.streams._supervisor import (
    HANG_TIMEOUT_S,
    STOP_TIMEOUT_S,
    Supervisor,
    _source_text,
    _Stream,
)
from framepipe.streams.engine import Engine
from framepipe.streams.job import LogTarget, StreamJob
from framepipe.streams.report import StreamResult
from framepipe.streams.stream_set import (
    StreamNameInUse,
    StreamSetClosed,
    StreamSetError,
    StreamState,
    UnknownStream,
)

__all__ = ["LiveSetSupervisor", "StreamMembers"]

_STOPPING = "the stream set is stopping: it takes no more changes"
_ENDED = "the stream set has ended: it takes no more changes"


@runtime_checkable
class StreamMembers(Protocol):
    """An engine that keeps something under a stream's name across its attempts (the Ray
    engine: its actor, the restarts Ray may make of it)."""

    def admit(self, name: str, restart_attempts: int) -> None:
        """``name`` joins the set, restarted at most ``restart_attempts`` times."""
        ...

    def release(self, name: str) -> None:
        """``name`` left the set, its worker ended: keep nothing of it."""
        ...


class LiveSetSupervisor(Supervisor):
    """A supervisor whose streams can be added, removed and restarted while it runs."""

    def __init__(
        self,
        jobs: Sequence[StreamJob],
        engine: Engine,
        restart_attempts: Sequence[int],
        *,
        service: bool = False,
        fail_fast: bool = False,
        logger: Any = None,
        stop_timeout_s: float = STOP_TIMEOUT_S,
        hang_timeout_s: float = HANG_TIMEOUT_S,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        commands: CommandQueue | None = None,
        log_target: LogTarget | None = None,
        cv_threads: int | None = None,
    ) -> None:
        super().__init__(
            jobs, engine, restart_attempts, fail_fast=fail_fast, logger=logger,
            stop_timeout_s=stop_timeout_s, hang_timeout_s=hang_timeout_s, clock=clock, rng=rng,
        )  # fmt: skip
        self.service = service
        self.commands = commands if commands is not None else CommandQueue()
        self._names = tuple(self._streams)  # replaced whole: read from any thread
        # What a stream added without its own gets: the first stream's, or in a set that
        # started empty, what the set was started with.
        self.log_target = jobs[0].log_target if jobs else log_target
        if not jobs and cv_threads is not None:
            self.cv_threads = cv_threads
        self._removing: dict[str, list[Reply]] = {}  # answered once the worker has ended
        self._restarting: dict[str, list[Reply]] = {}  # answered once the new one started
        self._stop_asked: dict[str, float] = {}  # when a stream was stopped on request
        self._settle_by: dict[str, float] = {}  # when a removed stream's results stop waiting

    @property
    def names(self) -> tuple[str, ...]:
        """The streams in the set now (safe from any thread)."""
        return self._names

    def state(self, name: str) -> StreamState:
        """What ``name`` is doing now; UnknownStream when the set has no such stream."""
        stream = self._streams.get(name)
        if stream is None:
            raise UnknownStream(f"no stream named {name!r}")
        snapshot = self.snapshot(name)
        error = stream.result.error if stream.result is not None else None
        return StreamState(
            name=name,
            source=_source_text(stream.job),
            state=snapshot.state,
            pid=stream.pid,
            node=stream.node,
            frames_processed=snapshot.frames_processed,
            restart_count=len(stream.restarts),
            error=error,
        )

    # -- the loop --------------------------------------------------------------------------------

    def _finished(self) -> bool:
        if self.service and not self._stop_requested:
            return False
        return super()._finished()

    def _step(self) -> None:
        for command in self.commands.take():
            self._apply(command)
        self._kill_overdue(self._clock())
        super()._step()
        self._finish_removals()

    def _abandon(self) -> None:
        try:
            super()._abandon()
        finally:
            self.commands.close(_ENDED)
            for replies in (*self._removing.values(), *self._restarting.values()):
                for reply in replies:
                    reply.fail(StreamSetClosed(_ENDED))
            self._removing.clear()
            self._restarting.clear()
            self._settle_by.clear()

    def _may_restart(self, stream: _Stream) -> bool:
        name = stream.job.name
        if name in self._removing or name in self._restarting:
            return False  # stopped on request: its end is no failure to retry
        return super()._may_restart(stream)

    def _ended(self, stream: _Stream, code: int | None, start_error: str | None) -> None:
        super()._ended(stream, code, start_error)
        name = stream.job.name
        replies = self._restarting.pop(name, None)
        if replies is None or stream.result is None:
            return
        self._stop_asked.pop(name, None)
        if name in self._removing:
            why = StreamSetError(f"stream {name!r} was removed before it could restart")
            for reply in replies:
                reply.fail(why)
            return
        if self._stop_requested:
            for reply in replies:
                reply.fail(StreamSetClosed(_STOPPING))
            return
        self._start_again(stream)
        state = self.state(name)
        for reply in replies:
            reply.answer(state)

    # -- commands ---------------------------------------------------------------------------------

    def _apply(self, command: Command) -> None:
        try:
            if command.kind == "list":
                command.reply.answer(tuple(self.state(name) for name in self._names))
            elif self._stop_requested:
                raise StreamSetClosed(_STOPPING)
            elif command.kind == "add":
                self._add(command)
            elif command.kind == "remove":
                self._remove(command)
            elif command.kind == "restart":
                self._restart(command)
            else:
                raise StreamSetError(f"unknown command {command.kind!r}")
        except StreamSetError as exc:
            command.reply.fail(exc)
        except Exception as exc:  # a bug here must not end the supervisor: the asker hears it
            self._log.exception("applying %s %s failed", command.kind, command.name)
            command.reply.fail(StreamSetError(f"{command.kind} {command.name}: {exc}"))

    def _known(self, name: str | None) -> _Stream:
        stream = self._streams.get(name) if name is not None else None
        if stream is None:
            raise UnknownStream(f"no stream named {name!r}")
        return stream

    def _add(self, command: Command) -> None:
        job = command.job
        if job is None:
            raise StreamSetError("add needs a job")
        if job.name in self._streams:
            being = " (it is being removed)" if job.name in self._removing else ""
            raise StreamNameInUse(f"a stream named {job.name!r} is in the set already{being}")
        if job.config.results is not None:  # ResultsRefused, before the stream is in the set
            self._results.join(job.name, job.config.results)
        stream = _Stream(job, command.restart_attempts)
        if isinstance(self._engine, StreamMembers):
            self._engine.admit(job.name, command.restart_attempts)
        self._streams[job.name] = stream
        self._names = tuple(self._streams)
        self._log.info("stream %s: added", job.name)
        self._start(stream)
        command.reply.answer(self.state(job.name))

    def _remove(self, command: Command) -> None:
        stream = self._known(command.name)
        name = stream.job.name
        if name in self._removing:
            self._removing[name].append(command.reply)
            return
        self._removing[name] = [command.reply]
        self._log.info("stream %s: removing", name)
        self._stop_one(stream)

    def _restart(self, command: Command) -> None:
        stream = self._known(command.name)
        name = stream.job.name
        if name in self._removing:
            raise StreamSetError(f"stream {name!r} is being removed")
        if name in self._restarting:
            self._restarting[name].append(command.reply)
            return
        self._log.info("stream %s: restarting on request", name)
        if stream.worker is None:  # ended, or waiting for its next attempt: start it now
            self._start_again(stream)
            command.reply.answer(self.state(name))
            return
        self._restarting[name] = [command.reply]
        self._ask_to_stop(stream, stream.worker)
        self._stop_asked[name] = self._clock()

    def _stop_one(self, stream: _Stream) -> None:
        """Ask the stream's worker to stop; a stream without one ends now."""
        name = stream.job.name
        if stream.worker is not None:
            self._ask_to_stop(stream, stream.worker)
            self._stop_asked[name] = self._clock()
        elif stream.restart_at is not None:  # waiting to restart: it ends as its attempt did
            last = stream.restarts.pop()
            stream.restart_at, stream.pid = None, last.pid
            stream.killed = last.error
            self._ended(stream, last.exit, None)

    def _start_again(self, stream: _Stream) -> None:
        """A new attempt under the same name, its counters going on from the last one's."""
        stream.result = None
        self._start(stream)

    def _kill_overdue(self, now: float) -> None:
        """Kill the workers stopped on request that have not ended in their time."""
        for name, asked_at in list(self._stop_asked.items()):
            stream = self._streams.get(name)
            if stream is None or stream.worker is None:
                del self._stop_asked[name]
            else:
                self._kill_if_overdue(stream, asked_at, now)

    def _finish_removals(self) -> None:
        """Drop every stream being removed whose worker has ended and whose results lines are
        all handled; hand back its result, with its final counts."""
        ended = [name for name in self._removing if self._streams[name].result is not None]
        for name in [name for name in ended if self._results_settled(name)]:
            stream = self._streams.pop(name)
            self._names = tuple(self._streams)
            self._stop_asked.pop(name, None)
            if isinstance(self._engine, StreamMembers):
                self._engine.release(name)
            result: StreamResult | None = stream.result
            self._settle_by.pop(name, None)
            if result is not None:
                result = self._results.leave(result)
            self._log.info("stream %s: removed", name)
            for reply in self._removing.pop(name):
                reply.answer(result)

    def _results_settled(self, name: str) -> bool:
        """The ended stream's results lines are all written, refused or dropped, or its file
        has had ``SETTLE_TIMEOUT_S`` to take them."""
        due = self._settle_by.setdefault(name, self._clock() + SETTLE_TIMEOUT_S)
        return self._results.settled(name) or self._clock() >= due
