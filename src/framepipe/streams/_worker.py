"""The worker process: one stream's ``Pipeline``, run in a process of its own.

``worker_main(job, conn)`` is the process's entry point. ``conn`` is one end of a pipe whose other
end only the supervisor holds: the worker reads ``STOP`` from it, sends its messages on it, and
reads end-of-file when the supervisor's process is gone (however it died), which stops the run
too, so a worker never outlives its parent. Stops are clean: the current frame finishes, the
output is finalised and the log flushed; a worker whose parent is gone and that still has not
ended after :data:`ORPHAN_GRACE_S` exits at once.

Ctrl-C in a terminal reaches every process of the group, and closing the terminal sends SIGHUP:
both are the parent's to handle (it stops every worker), so a worker ignores them. SIGTERM sent to
a worker alone is a clean stop, as the supervisor's ``STOP`` is.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

from framepipe._text import hide_secrets, one_line
from framepipe.pipeline.live import PipelineSnapshot
from framepipe.pipeline.output import OutputError
from framepipe.pipeline.report import PipelineReport
from framepipe.pipeline.results import ResultsLine
from framepipe.pipeline.runner import Pipeline, PipelineError, PipelineLogger
from framepipe.pipeline.sources import OpenCancelled, SourceError
from framepipe.streams._messages import (
    PREVIEW,
    STOP,
    Finished,
    Results,
    Snapshot,
    Started,
    WorkerMessage,
)
from framepipe.streams._preview import PreviewSender
from framepipe.streams.job import LogTarget, StreamJob

__all__ = ["ORPHAN_GRACE_S", "worker_main"]

ORPHAN_GRACE_S = 10.0  # after the parent is gone: time to finish the frame and flush, then exit
_TICK_S = 0.1  # how often the snapshot sender looks at the run
_FAST_TICK_S = 0.01  # until the first frame, so the supervisor learns of it at once
_IGNORED = tuple(getattr(signal, name) for name in ("SIGINT", "SIGHUP") if hasattr(signal, name))


def worker_main(job: StreamJob, conn: Connection) -> None:
    """Run ``job`` and exit: code 0 when the stream ended cleanly, 1 when it failed."""
    for signum in _IGNORED:
        signal.signal(signum, signal.SIG_IGN)
    channel = SupervisorLink(conn)
    stopper = Stopper()
    # Installed before logging is set up, so the logger's own handler flushes, then calls this.
    signal.signal(signal.SIGTERM, lambda signum, frame: stopper.stop())
    channel.send(Started(os.getpid()))
    previews = PreviewSender()
    threading.Thread(
        target=_watch_parent,
        args=(channel, stopper, previews),
        name="framepipe-lifeline",
        daemon=True,
    ).start()
    raise SystemExit(run_stream(job, channel, stopper, previews))


def _setup_logging(target: LogTarget | None, stream: str) -> PipelineLogger:
    """Set this worker's logging up as the parent asked; the pipeline's logger.

    With the parent's log channel: every record of this process goes to the parent's one
    writer, marked with the stream's name. ``None``: nothing is configured (the implicit
    defaults apply, as for any library). Otherwise one file for this stream, under
    ``<log_dir>/<stream>/``, or stderr without a directory.
    """
    from framepipe.logging import configure, connect, get_logger

    if target is not None and target.address is not None:
        connect(target.address, stream=stream)
    elif target is not None:
        log_dir = None if target.log_dir is None else os.path.join(target.log_dir, stream)
        configure(log_dir=log_dir, mode=target.mode)
    return get_logger("framepipe.pipeline")


def run_stream(
    job: StreamJob,
    channel: SupervisorLink,
    stopper: Stopper,
    previews: PreviewSender | None = None,
) -> int:
    """Build the pipeline, run it while sending snapshots, and always send ``Finished``."""
    finished = Finished(None, None, "the worker ended before the run started")
    log: PipelineLogger | None = None
    pipeline: Pipeline | None = None
    try:
        _limit_threads(job.cv_threads)
        log = _setup_logging(job.log_target, job.name)
        processor = None if job.processor is None else list(job.processor)
        pipeline = Pipeline(
            job.source, processor=processor, logger=log, **_results_to_parent(job, channel)
        )
        stopper.attach(pipeline)
        sender = _SnapshotSender(pipeline, channel, job.snapshot_interval_s, previews)
        sender.start()
        try:
            finished = _run(pipeline)
        finally:
            sender.stop()
    # Anything unforeseen still ends in one line for the supervisor, with what was done. That
    # includes SystemExit, KeyboardInterrupt or a bare BaseException raised by a processor: the
    # pipeline catches only Exception, and the worker ignores Ctrl-C, so none is a stop request.
    except BaseException as exc:
        finished = _failed(job, pipeline, exc)
        if log is not None:
            log.exception("stream %s failed", job.name)
    finally:
        channel.send(finished)  # the end marker, on every path
        _flush(log)
    return 0 if finished.error is None else 1


def _results_to_parent(job: StreamJob, channel: SupervisorLink) -> dict[str, Any]:
    """The pipeline's config and results settings: with a results file, the lines go to the
    supervisor, which writes the one file of every stream (the worker writes none)."""
    if job.config.results is None:
        return {"config": job.config}

    def send(line: ResultsLine) -> None:
        if not channel.send(Results(line.frame, line.t, line.results)):
            raise ConnectionError("the supervisor is gone")

    config = dataclasses.replace(job.config, results=None)
    return {"config": config, "on_results": send, "stream": job.name}


def _run(pipeline: Pipeline) -> Finished:
    try:
        report = pipeline.run()
    except PipelineError as exc:
        return Finished(exc.report, exc.report.end_reason, str(exc))
    except OpenCancelled:  # stopped while its source opened: a stop, not a failure
        return Finished(None, "stopped", None)
    except (SourceError, OutputError) as exc:
        return Finished(None, None, str(exc))
    return Finished(report, report.end_reason, report.truncation_error)


def _failed(job: StreamJob, pipeline: Pipeline | None, exc: BaseException) -> Finished:
    """How a run that raised ``exc`` ended: the cause and, once the pipeline exists, the report
    its last snapshot tells."""
    if pipeline is None:
        return Finished(None, None, one_line(exc))
    report = PipelineReport.from_snapshot(
        pipeline.snapshot().without_frame(),
        source=hide_secrets(str(job.source)),
        processor=pipeline.processor_name,
    )
    error = f"{one_line(exc)} after {report.frames_processed} processed frames"
    return Finished(report, report.end_reason, error)


def _limit_threads(count: int) -> None:
    """OpenCV's own thread pool: several workers each using every core oversubscribe them."""
    import cv2

    cv2.setNumThreads(count)


def _flush(log: Any) -> None:
    flush = getattr(log, "flush", None)
    if flush is not None:
        flush(timeout=5.0)


class SupervisorLink:
    """The worker's end of the pipe: sends from several threads, one at a time.

    A send to a parent that is gone is dropped (the lifeline thread stops the run).
    """

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._lock = threading.Lock()

    def send(self, message: WorkerMessage) -> bool:
        with self._lock:
            try:
                self._conn.send(message)
            except (OSError, ValueError):  # a broken pipe, or the connection closed
                return False
        return True

    def recv(self) -> object:
        return self._conn.recv()


class Stopper:
    """A stop request that may come before the pipeline exists: passed on once it does (a stop
    before ``Pipeline.run()`` sticks, so once is enough)."""

    def __init__(self) -> None:
        self.requested = threading.Event()
        self._pipeline: Pipeline | None = None

    def attach(self, pipeline: Pipeline) -> None:
        self._pipeline = pipeline
        if self.requested.is_set():
            pipeline.stop()

    def stop(self) -> None:
        """Safe from a signal handler: sets a flag and the pipeline's own flag."""
        self.requested.set()
        pipeline = self._pipeline
        if pipeline is not None:
            pipeline.stop()


def _watch_parent(
    channel: SupervisorLink, stopper: Stopper, previews: PreviewSender | None = None
) -> None:
    """Read the supervisor's messages; end-of-file means the parent is gone: stop, then exit."""
    while True:
        try:
            message = channel.recv()
        except (EOFError, OSError):
            stopper.stop()
            _exit_later(ORPHAN_GRACE_S)
            return
        if message == STOP:
            stopper.stop()
        elif message == PREVIEW and previews is not None:
            previews.want()


def _exit_later(delay_s: float) -> None:
    """Exit the process after ``delay_s`` unless it has ended by itself by then."""

    def exit_now() -> None:
        os._exit(1)

    timer = threading.Timer(delay_s, exit_now)
    timer.daemon = True
    timer.start()


class _SnapshotSender:
    """Sends the pipeline's snapshot, without its frame, once a second.

    Also sent when the run starts and on its first frame, so the supervisor knows at once.
    """

    def __init__(
        self,
        pipeline: Pipeline,
        channel: SupervisorLink,
        interval_s: float,
        previews: PreviewSender | None = None,
    ) -> None:
        self._pipeline = pipeline
        self._previews = previews
        self._channel = channel
        self._interval_s = interval_s
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="framepipe-snapshots", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """End the thread, then send the final snapshot (the run's last counts)."""
        self._done.set()
        self._thread.join(5.0)
        self._send()

    def _loop(self) -> None:
        sent_at = float("-inf")
        seen_frame = False
        while not self._done.wait(_TICK_S if seen_frame else _FAST_TICK_S):
            snapshot = self._pipeline.snapshot()
            if self._previews is not None:
                self._previews.tick(snapshot.latest_frame, self._channel)
            first_frame = not seen_frame and snapshot.frames_processed > 0
            if first_frame or time.monotonic() - sent_at >= self._interval_s:
                seen_frame = seen_frame or first_frame
                if not self._send(snapshot):
                    return
                sent_at = time.monotonic()

    def _send(self, snapshot: PipelineSnapshot | None = None) -> bool:
        if snapshot is None:
            snapshot = self._pipeline.snapshot()
        # The stream's log counters travel too: a worker killed before its report still says
        # how many records it logged, as of this snapshot.
        get_stats = getattr(self._pipeline.logger, "get_stats", None)
        log = get_stats() if get_stats is not None else None
        return self._channel.send(Snapshot(dataclasses.replace(snapshot.without_frame(), log=log)))
