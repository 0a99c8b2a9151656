"""The supervisor: starts a worker per stream, follows them, restarts the ones that fail.

It runs on one thread (``run()``); other threads only call ``stop()``, ``kill()`` and
``snapshot()``, which set a flag or read the latest value. It never waits longer than
:data:`POLL_S` for a worker, so a stop is acted on at once. A worker that ends without a summary
was killed or crashed: its exit code or signal is the error. A stream that fails is restarted
with backoff while it has restart attempts left (a live source by default) and no stop was asked;
with ``fail_fast`` its failure stops the others.
"""

from __future__ import annotations

import dataclasses
import random
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from framepipe._text import hide_secrets
from framepipe.pipeline.live import PipelineSnapshot
from framepipe.pipeline.reconnect import backoff_s
from framepipe.pipeline.report import PipelineReport
from framepipe.pipeline.sources import parse_source
from framepipe.pipeline.stats import FrameSummary
from framepipe.pipeline.status import RunStatus
from framepipe.streams._messages import (
    Finished,
    Preview,
    Results,
    Snapshot,
    Started,
    WorkerMessage,
)
from framepipe.streams._results import ResultsRelay
from framepipe.streams._totals import carried, counted_with
from framepipe.streams.attempts import AttemptLog, timings_so_far
from framepipe.streams.engine import Engine, WorkerHandle
from framepipe.streams.job import StreamJob
from framepipe.streams.report import Attempt, StreamResult, StreamsReport

__all__ = [
    "HANG_TIMEOUT_S",
    "POLL_S",
    "START_WAIT_S",
    "STOP_TIMEOUT_S",
    "Supervisor",
    "describe_exit",
]

POLL_S = 0.1
PREVIEW_ASK_S = 0.5  # how often a watched stream's worker is reminded to send previews
HANG_TIMEOUT_S = 30.0  # a running worker whose frame loop moves no further for this long hangs
STOP_TIMEOUT_S = 15.0  # a stop is a frame away; opening a stream may take its open timeout
# A worker asked to stop before it said a word is still starting (a fresh interpreter importing,
# a Ray actor being placed on a busy machine): it hears the stop once it runs, so the stop
# timeout counts from its first word, and it has this long to say one.
START_WAIT_S = 60.0
MAX_RESTART_BACKOFF_S = 30.0


def describe_exit(code: int | None) -> str:
    """How a worker ended without a summary, in words."""
    if code is None:
        return "the worker did not start"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = {"SIGKILL": " (kill -9, or out of memory)", "SIGSEGV": " (segmentation fault)"}
        return f"killed by {name}{hint.get(name, '')}"
    return f"exited with code {code} without a summary"


@dataclass
class _Stream:
    """One stream across its attempts; written by the supervisor's thread only."""

    job: StreamJob
    restart_attempts: int
    worker: WorkerHandle | None = None
    pid: int | None = None
    snapshot: PipelineSnapshot | None = None
    finished: Finished | None = None
    restarts: AttemptLog = field(default_factory=AttemptLog)  # counts all, keeps the last
    timings: FrameSummary | None = None  # the earlier attempts' frame times and ages, merged
    earlier: PipelineSnapshot | None = None  # the attempts before this one, their counts summed
    restart_at: float | None = None
    killed: str | None = None  # why the supervisor killed this attempt
    result: StreamResult | None = None
    node: str | None = None  # where the worker runs, when the engine says (Ray)
    # The frame loop's last move: (frames processed, frames failed, state), and when it came.
    progress: tuple[int, int, str] | None = None
    progress_at: float = 0.0
    heard_at: float | None = None  # this attempt's first message: from then on it hears a stop
    preview: Preview | None = None  # the latest frame as JPEG, sent while someone watches
    preview_wanted_at: float = float("-inf")  # set by any thread: a plain store
    preview_asked_at: float = float("-inf")


class Supervisor:
    """Runs ``jobs`` on ``engine`` until every stream has ended; ``run()`` returns the report."""

    def __init__(
        self,
        jobs: Sequence[StreamJob],
        engine: Engine,
        restart_attempts: Sequence[int],
        *,
        fail_fast: bool = False,
        logger: Any = None,
        stop_timeout_s: float = STOP_TIMEOUT_S,
        hang_timeout_s: float = HANG_TIMEOUT_S,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        if len(restart_attempts) != len(jobs):
            raise ValueError(
                f"restart_attempts must have one count per stream ({len(jobs)}), "
                f"but got {len(restart_attempts)}"
            )
        if logger is None:
            from framepipe.logging import get_logger

            logger = get_logger("framepipe.streams")
        self._streams = {
            job.name: _Stream(job, attempts)
            for job, attempts in zip(jobs, restart_attempts, strict=True)
        }
        self._engine = engine
        self._fail_fast = fail_fast
        self._log = logger
        self._stop_timeout_s = stop_timeout_s
        self._hang_timeout_s = hang_timeout_s  # 0: never judged hung
        self._clock = clock
        self._rng = rng or random.Random()
        self._stop_requested = False
        self._kill_requested = False
        self._stop_asked_at: float | None = None
        self.cv_threads = jobs[0].cv_threads if jobs else 1
        # Each stream's results file, opened as its first stream starts; closed by run().
        self._results = ResultsRelay(report=lambda message: self._log.error("%s", message))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._streams)

    def stop(self) -> None:
        """Stop every stream after its current frame (safe from any thread or signal handler)."""
        self._stop_requested = True

    def kill(self) -> None:
        """End every worker now (a second Ctrl-C): their summaries are what the snapshots say."""
        self._stop_requested = self._kill_requested = True

    def pid(self, name: str) -> int | None:
        return self._streams[name].pid

    def want_preview(self, name: str) -> None:
        """Someone watches this stream: its worker is asked for previews (safe from any
        thread: it only stores the time)."""
        self._streams[name].preview_wanted_at = self._clock()

    def preview(self, name: str) -> tuple[bytes | None, str | None]:
        """The stream's latest preview ``(jpeg, error)``; ``(None, None)`` before any."""
        preview = self._streams[name].preview
        return (None, None) if preview is None else (preview.jpeg, preview.error)

    def node(self, name: str) -> str | None:
        return self._streams[name].node

    def restart_count(self, name: str) -> int:
        """The stream's restarts so far (every one, however many the record keeps)."""
        return len(self._streams[name].restarts)

    def snapshot(self, name: str) -> PipelineSnapshot:
        """The stream's latest snapshot (no frame), as its worker last sent it, with the counts
        of its earlier attempts added: a restarted stream's counters never go down. Between
        attempts it is ``starting`` with no frame yet (not delivering frames)."""
        stream = self._streams[name]
        latest = stream.snapshot
        if latest is None:
            config = stream.job.config
            source = stream.earlier.source if stream.earlier is not None else None
            latest = RunStatus(
                source or _source_text(stream.job), config.budget_ms or 0.0
            ).snapshot(0.0)
        latest = self._results.snapshot(name, carried(stream.earlier, latest))
        if stream.result is not None and latest.state != "ended":
            return dataclasses.replace(latest, state="ended")
        if stream.restart_at is not None:  # the ended attempt's counts; no frames flow
            return dataclasses.replace(latest, state="starting", last_frame_at=None, fps=0.0)
        return latest

    def run(self) -> StreamsReport:
        """Start every stream and follow them to the end; call once."""
        started = self._clock()
        try:
            for stream in self._streams.values():
                self._start(stream)
            while not self._finished():
                self._step()
        finally:
            self._abandon()
        results = tuple(
            stream.result for stream in self._streams.values() if stream.result is not None
        )
        results = self._results.close(results)
        return StreamsReport(results, self._clock() - started, self.cv_threads)

    def _step(self) -> None:
        now = self._clock()
        if self._stop_requested and self._stop_asked_at is None:
            self._begin_stop(now)
        if self._kill_requested:
            self._kill_running("killed on a second interrupt")
        elif self._stop_asked_at is not None:
            for stream in self._streams.values():
                self._kill_if_overdue(stream, self._stop_asked_at, now)
        for stream in self._streams.values():
            if stream.restart_at is not None and now >= stream.restart_at:
                self._start(stream)
            elif self._hang_timeout_s and not self._stop_requested:
                self._kill_if_hung(stream, now)
        self._ask_for_previews(now)
        running = [s.worker for s in self._streams.values() if s.worker is not None]
        self._engine.wait(running, POLL_S)
        for stream in self._streams.values():
            if stream.worker is not None:
                self._poll(stream, stream.worker)

    def _start(self, stream: _Stream) -> None:
        if stream.snapshot is not None or stream.finished is not None:  # a restart
            stream.timings = timings_so_far(stream.timings, stream.finished, stream.snapshot)
        stream.restart_at = None
        if stream.snapshot is not None:  # a restart: the ended attempt's counts go on
            stream.earlier = carried(stream.earlier, stream.snapshot)
        stream.finished, stream.killed, stream.pid, stream.snapshot = None, None, None, None
        stream.progress = stream.heard_at = None
        if not self._join_results(stream):
            return
        try:
            stream.worker = self._engine.start(stream.job)
        except Exception as exc:
            self._log.error("stream %s: could not start a worker: %s", stream.job.name, exc)
            stream.worker = None
            self._ended(stream, None, f"could not start a worker: {exc}")
            return
        stream.pid = stream.worker.pid
        self._log.info(
            "stream %s: worker %sstarted (source %s)",
            stream.job.name,
            "" if stream.pid is None else f"{stream.pid} ",  # a Ray actor's pid comes later
            _source_text(stream.job),
        )

    def _join_results(self, stream: _Stream) -> bool:
        """The stream's results file open for its lines before its worker starts; False (the
        attempt ended, as one whose worker did not start) when it cannot be."""
        path, name = stream.job.config.results, stream.job.name
        if path is None or self._results.joined(name):
            return True
        try:
            self._results.join(name, path)
        except ValueError as exc:  # said once, as the attempt's end
            stream.worker = None
            self._ended(stream, None, str(exc))
            return False
        return True

    def _poll(self, stream: _Stream, worker: WorkerHandle) -> None:
        code = worker.exit_code()
        self._receive(stream, worker.messages())
        stream.node = worker.node or stream.node
        if code is None:
            return
        while batch := worker.messages():  # what it sent just before it ended
            self._receive(stream, batch)
        # An engine that knows why its worker died (a Ray actor) says so; else the exit code.
        stream.killed = stream.killed or worker.death
        worker.close()
        stream.worker = None
        # A worker that died elsewhere has no exit status here: its death says what happened.
        self._ended(stream, None if worker.death else code, None)

    def _receive(self, stream: _Stream, messages: list[WorkerMessage]) -> None:
        if messages and stream.heard_at is None:
            stream.heard_at = self._clock()
        for message in messages:
            if isinstance(message, Snapshot):
                stream.snapshot = message.snapshot
                self._note_progress(stream, message.snapshot)
            elif isinstance(message, Started):
                stream.pid = message.pid
            elif isinstance(message, Preview):
                stream.preview = message
            elif isinstance(message, Finished):
                stream.finished = message
            elif isinstance(message, Results):
                self._results.line(stream.job.name, message)

    def _ask_for_previews(self, now: float) -> None:
        """Pass a watcher's wish on to the worker, at most twice a second (an engine without
        previews, Ray's, has no ``request_preview``)."""
        for stream in self._streams.values():
            watched = now - stream.preview_wanted_at < PREVIEW_ASK_S * 4
            recently = now - stream.preview_asked_at < PREVIEW_ASK_S
            if stream.worker is None or not watched or recently:
                continue
            ask = getattr(stream.worker, "request_preview", None)
            if ask is not None:
                ask()
            stream.preview_asked_at = now

    def _ended(self, stream: _Stream, code: int | None, start_error: str | None) -> None:
        """One attempt ended: keep it as the result, or restart the stream."""
        name, finished = stream.job.name, stream.finished
        if start_error is not None:
            error: str | None = start_error
        elif finished is None:
            error = stream.killed or describe_exit(code)
        elif finished.error is not None:
            error = finished.error
        elif code != 0:
            error = stream.killed or describe_exit(code)
        else:
            error = None
        if error is not None and self._may_restart(stream):
            frames = stream.snapshot.frames_processed if stream.snapshot is not None else 0
            stream.restarts.append(Attempt(stream.pid, code, error, frames))
            delay = backoff_s(len(stream.restarts), MAX_RESTART_BACKOFF_S, self._rng)
            self._log.warning(
                "stream %s: worker %s %s; restart %d of %d in %.1f s",
                name, stream.pid, error, len(stream.restarts), stream.restart_attempts, delay,
            )  # fmt: skip
            stream.restart_at = self._clock() + delay  # the last snapshot stays until then
            return
        if finished is not None and finished.summary is not None:
            summary = counted_with(finished.summary, stream.earlier)
        else:
            last = stream.snapshot
            counts = stream.earlier if last is None else carried(stream.earlier, last)
            summary = PipelineReport.from_snapshot(
                None if counts is None else _with_sketches_of(counts, last),
                source=_source_text(stream.job),
                processor=stream.job.processor_name,
            )
            summary = _known_of_the_job(summary, stream.job, stream.earlier, last)
        summary = summary.with_timings_of(stream.timings)  # percentiles of every attempt
        ended = finished.end_reason if finished is not None else None
        stream.result = StreamResult(
            stream=name,
            summary=summary,
            pid=stream.pid,
            exit=code,
            error=error,
            ended=ended or ("error" if finished is not None else "crashed"),
            cv_threads=stream.job.cv_threads,
            restarts=tuple(stream.restarts),
            node=stream.node,
            restart_count=len(stream.restarts),
        )
        if error is None:
            self._log.info("stream %s: worker %s ended (%s)", name, stream.pid, ended)
            return
        self._log.error("stream %s: worker %s failed: %s", name, stream.pid, error)
        if self._fail_fast and not self._stop_requested:
            self._log.warning("stopping every stream: %s failed and --fail-fast is set", name)
            self.stop()

    def _note_progress(self, stream: _Stream, snapshot: PipelineSnapshot) -> None:
        mark = (snapshot.frames_processed, snapshot.frames_failed, snapshot.state)
        if mark != stream.progress:
            stream.progress, stream.progress_at = mark, self._clock()

    def _kill_if_hung(self, stream: _Stream, now: float) -> None:
        """Kill a worker whose frame loop has not moved for the hang timeout while it should run.

        Only a ``running`` stream is judged: one still opening its source, reconnecting a live
        one or stopping is waiting on purpose. A worker that sends nothing at all (stopped with
        SIGSTOP) keeps the state of its last snapshot, and is judged by it.
        """
        progress = stream.progress
        if stream.worker is None or stream.killed is not None or progress is None:
            return
        processed, failed, state = progress
        limit = self._hang_limit_s(stream.job)
        if state != "running" or now - stream.progress_at < limit:
            return
        stream.killed = f"hung on frame {processed + failed}: no progress for {limit:g} s"
        self._log.error("stream %s: worker %s %s, killed", stream.job.name, stream.pid,
                        stream.killed)  # fmt: skip
        stream.worker.kill()

    def _finished(self) -> bool:
        """Every stream has ended: ``run()`` returns (a set that changes while it runs says
        otherwise until it is stopped)."""
        return all(stream.result is not None for stream in self._streams.values())

    def _hang_limit_s(self, job: StreamJob) -> float:
        """The hang timeout, but at least three snapshots (progress is seen only in them), and
        for a live source at least the time its stall takes to be noticed and reported (it
        runs, frameless, until then), which is no hang."""
        limit = max(self._hang_timeout_s, 3 * job.snapshot_interval_s)
        if parse_source(job.source).is_live:
            limit = max(limit, job.config.stall_timeout_s + 2 * job.snapshot_interval_s)
        return limit

    def _may_restart(self, stream: _Stream) -> bool:
        return not self._stop_requested and len(stream.restarts) < stream.restart_attempts

    def _begin_stop(self, now: float) -> None:
        self._stop_asked_at = now
        for stream in self._streams.values():
            if stream.worker is not None:
                self._ask_to_stop(stream, stream.worker)
            elif stream.restart_at is not None:  # waiting to restart: it ends as it failed
                last = stream.restarts.pop()
                stream.restart_at, stream.pid = None, last.pid
                stream.killed = last.error
                self._ended(stream, last.exit, None)

    def _ask_to_stop(self, stream: _Stream, worker: WorkerHandle) -> None:
        """Ask ``worker`` to stop after its current frame; one still starting hears it once it
        runs, which may take a while: the log says so."""
        worker.stop()
        if stream.heard_at is None:
            self._log.info(
                "stream %s: its worker is still starting; it stops once started (killed if not "
                "started within %g s)", stream.job.name, START_WAIT_S,
            )  # fmt: skip

    def _kill_if_overdue(self, stream: _Stream, asked_at: float, now: float) -> None:
        """Kill the worker asked to stop at ``asked_at`` once it had its time: the stop timeout
        from when it could hear the stop (asked, or its first word if that came later), and
        :data:`START_WAIT_S` to say that word."""
        if stream.worker is None or stream.killed is not None:
            return
        if stream.heard_at is None:
            if now - asked_at < START_WAIT_S:
                return
            why = f"did not start within {START_WAIT_S:g} s of the stop, killed"
        elif now - max(asked_at, stream.heard_at) < self._stop_timeout_s:
            return
        else:
            why = f"did not stop within {self._stop_timeout_s:g} s, killed"
        stream.killed = why
        self._log.warning("stream %s: worker %s %s", stream.job.name, stream.pid, why)
        stream.worker.kill()

    def _kill_running(self, why: str) -> None:
        for stream in self._streams.values():
            if stream.worker is not None and stream.killed is None:
                stream.killed = why
                self._log.warning("stream %s: worker %s %s", stream.job.name, stream.pid, why)
                stream.worker.kill()

    def _abandon(self) -> None:
        """On the way out, however it came: no worker is left running."""
        for stream in self._streams.values():
            worker, stream.worker = stream.worker, None
            if worker is not None:
                worker.kill()
                worker.close()


def _known_of_the_job(
    summary: PipelineReport,
    job: StreamJob,
    earlier: PipelineSnapshot | None,
    last: PipelineSnapshot | None,
) -> PipelineReport:
    """A summary made from snapshots, with what the job itself says: the loops of a looping
    run (their sum over attempts), its workers, and how busy they were where that is known
    (with one worker there is nothing to tell; with several, no snapshot says: None)."""
    config = job.config
    loops = sum(s.loops for s in (earlier, last) if s is not None) if config.loop else None
    busy = () if config.workers == 1 else None
    return dataclasses.replace(summary, loops=loops, workers=config.workers, worker_busy=busy)


def _with_sketches_of(
    snapshot: PipelineSnapshot, attempt: PipelineSnapshot | None
) -> PipelineSnapshot:
    """``snapshot`` (the counts of every attempt) with the frame time sketches of ``attempt``
    only: the earlier attempts' frame times are merged in from the stream's timings."""
    if attempt is None:
        return dataclasses.replace(snapshot, frame_sketch=None, age_sketch=None)
    return dataclasses.replace(
        snapshot, frame_sketch=attempt.frame_sketch, age_sketch=attempt.age_sketch
    )


def _source_text(job: StreamJob) -> str:
    """The job's source as it is shown: a URL's password hidden."""
    return "synthetic" if job.source is None else hide_secrets(str(job.source))
