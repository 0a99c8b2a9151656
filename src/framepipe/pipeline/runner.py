"""The frame loop: source -> reader thread -> bounded buffer -> processor -> outputs, timed.

The processor runs on the calling thread (stateful processors need no locks); the reader thread
overlaps decoding with processing. Each stage is entered in one ``ExitStack`` as it is built,
so teardown is one place and runs on every path: an exception anywhere ends the run instead of
hanging it. Every Nth frame is logged through the logger the pipeline was handed; it never
configures logging itself.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import deque
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from framepipe._camera import CameraReading
from framepipe._paths import OutputPath, check_outputs
from framepipe._text import hide_secrets, one_line
from framepipe.pipeline.buffer import BufferClosed, FrameBuffer
from framepipe.pipeline.config import PipelineConfig
from framepipe.pipeline.display import Display
from framepipe.pipeline.histogram import FrameHistograms
from framepipe.pipeline.live import PipelineSnapshot
from framepipe.pipeline.output import OutputError, VideoOutput, check_output_path
from framepipe.pipeline.parallel import Done, FrameWorkers, check_workers, open_workers
from framepipe.pipeline.processors import resolve_processor, split_output
from framepipe.pipeline.progress import Progress
from framepipe.pipeline.reader import CapturedFrame, FrameReader
from framepipe.pipeline.reconnect import ReconnectingSource, SourceLost
from framepipe.pipeline.report import EndReason, PipelineReport
from framepipe.pipeline.results import (
    RESULTS_BACKUP_COUNT,
    RESULTS_MAX_BYTES,
    ResultsCallback,
    ResultsWriter,
    check_results_path,
)
from framepipe.pipeline.sources import (
    Source,
    SourceInfo,
    SourceSpec,
    check_camera_source,
    open_source,
    parse_source,
)
from framepipe.pipeline.stats import FrameStats, MissStreak
from framepipe.pipeline.status import RunStatus
from framepipe.typing import DropPolicy, ProcessorSpec

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from framepipe.pipeline.config import PipelineOptions

__all__ = ["DEFAULT_BUDGET_MS", "Pipeline", "PipelineError", "PipelineLogger"]

DEFAULT_BUDGET_MS = 33.3  # when the source does not say its frame rate
_POLL_S = 0.1  # how often a waiting loop re-checks stop()
RESULTS_CLOSE_TIMEOUT_S = 5.0  # a results file that takes no more lines ends the run anyway
_NOT_OPTIONS = ("log_dir", "log_mode")  # logging belongs to the application, not the pipeline

Failure = tuple[str, BaseException]  # the run's one-line error and its cause


class PipelineError(Exception):
    """A run that failed part-way (processor or source error); ``report`` has what was done."""

    def __init__(self, message: str, report: PipelineReport) -> None:
        super().__init__(message)
        self.report = report


class PipelineLogger(Protocol):
    """What a pipeline logs through: a ``framepipe.logging.Logger``, or a ``logging.Logger``.

    ``flush(timeout)`` and ``get_stats()`` are used when present (the report's ``log`` is empty
    without ``get_stats``).
    """

    def info(self, msg: object, *args: object) -> None: ...
    def warning(self, msg: object, *args: object) -> None: ...
    def error(self, msg: object, *args: object, exc_info: BaseException | None = ...) -> None: ...
    def exception(self, msg: object, *args: object) -> None: ...


@dataclass
class _Run:
    """One run's stages and what the loop counted, handed between the steps of ``run()``."""

    info: SourceInfo
    policy: DropPolicy
    buffer: FrameBuffer[CapturedFrame]
    reader: FrameReader
    stats: FrameStats
    output: VideoOutput | None = None
    display: Display | None = None
    live: ReconnectingSource | None = None  # a camera or stream, reopened after a drop
    total: int | None = None  # frames expected (file length or max_frames), None for live
    taken: int = 0  # frames the loop took from the buffer, processed or not
    end: EndReason = "end"
    failure: Failure | None = None
    results: ResultsWriter | None = None  # where each frame's results go, off the loop
    epoch_offset: float = 0.0  # wall-clock seconds minus the pipeline's clock, for results' t
    workers: FrameWorkers | None = None  # parallel processor chains (workers > 1)
    progress_on: bool = True  # False once the progress callback raised

    def fail(self, message: str, cause: BaseException) -> None:
        """Record a failure; the first one is the run's error."""
        if self.failure is None:
            self.end, self.failure = "error", (message, cause)


class Pipeline:
    """Process a camera, file, stream or synthetic scene frame by frame under a time budget.

    ``Pipeline(source, processor=fn).run()`` returns a :class:`PipelineReport`; ``stop()`` ends a
    run from another thread or a signal handler; ``snapshot()`` tells any thread how it is going.
    ``source`` is a spec for ``open_source`` or an already open :class:`Source` (the run
    releases it). ``processor`` is a processor spec (see ``processors.resolve_processor``), kept
    as given in ``processor_spec``. Settings come as ``config=``, as keyword arguments for its
    fields, or both (the keywords replace the config's values). ``logger`` defaults to
    ``get_logger("framepipe.pipeline")``: whatever the application configured.
    ``on_results`` is called with each frame's results (a ``ResultsLine``) on the results
    writer's thread, never on the frame loop; ``stream`` is the name results lines carry
    (default: the source's name).
    """

    def __init__(
        self,
        source: str | int | Source | None = None,
        *,
        processor: ProcessorSpec = None,
        config: PipelineConfig | None = None,
        logger: PipelineLogger | None = None,
        progress: Callable[[Progress], None] | None = None,
        clock: Callable[[], float] = time.perf_counter,
        on_results: ResultsCallback | None = None,
        stream: str | None = None,
        **options: Unpack[PipelineOptions],
    ) -> None:
        for name in _NOT_OPTIONS:
            if name in options:
                raise TypeError(
                    f"{name} is not a Pipeline option: the application configures logging "
                    "(framepipe.logging.configure) and passes logger="
                )
        if config is None:
            config = PipelineConfig()
        elif not isinstance(config, PipelineConfig):
            raise ValueError(f"config must be a PipelineConfig, but got {config!r}")
        self.config = dataclasses.replace(config, **options) if options else config
        spec = None if isinstance(source, Source) else parse_source(source)  # SourceError early
        live = (
            source.info.is_live if isinstance(source, Source) else spec is not None and spec.is_live
        )
        if self.config.loop and live:
            raise ValueError(f"loop: {_source_name(source, spec)} is live and cannot start again")
        if spec is not None:
            check_camera_source(spec, self.config.camera)  # SourceError for a file or stream
        self.source = source
        self.processor_spec = processor  # the picklable description; ``processor`` is built
        self.processor, self.processor_name = resolve_processor(processor)
        check_workers(processor, self.config.workers, self.config.worker_kind)
        if self.config.results is not None:
            check_results_path(self.config.results)
        self.output = self._checked_output(spec)
        self.on_results = on_results
        self.stream = stream
        if logger is None:
            from framepipe.logging import get_logger

            logger = get_logger("framepipe.pipeline")
        self.logger = logger
        self.progress = progress
        self.clock = clock
        self._stop_requested = False
        self._running = False
        self._status = RunStatus(_source_name(source, spec), self.config.budget_ms or 0.0)

    def _checked_output(self, spec: SourceSpec | None) -> Path | None:
        if self.config.output is None:
            return None
        output = check_output_path(self.config.output)
        if spec is not None and spec.kind == "file":
            # Writing the video over its own source would destroy the input as it is read.
            check_outputs([OutputPath("output", str(output), "video")], str(spec.target))
        return output

    def stop(self) -> None:
        """Ask ``run()`` to finish after the current frame.

        A stop that comes before ``run()`` sticks: that run processes no frame and ends
        ``stopped``. The flag is cleared when a run ends, so a later ``run()`` starts afresh.
        Safe from another thread and from a signal handler: it only sets a flag (taking a lock
        here could deadlock against the interrupted main thread).
        """
        self._stop_requested = True

    def snapshot(self) -> PipelineSnapshot:
        """How the current (or last) run is going; safe from any thread at any time.

        Built on the calling thread from values the loop publishes without a lock: the loop
        never waits for an observer.
        """
        return self._status.snapshot(self.clock())

    def histograms(self) -> FrameHistograms:
        """Every processed frame of the current (or last) run counted in fixed buckets: frame
        time and frame age, in seconds (what ``/metrics`` exports)."""
        return self._status.histograms

    def run(self) -> PipelineReport:
        """Process until the source ends, ``max_frames``, ``stop()`` or an error.

        Raises SourceError when the source cannot be opened (OpenCancelled when ``stop()`` came
        while it opened), OutputError when the output cannot be written, and PipelineError (with
        the partial report) when the processor or the source fails mid-run.
        """
        if self._running:
            raise RuntimeError("Pipeline.run() is already running")
        self._running = True
        status = self._status = RunStatus(self._status.source, self._status.budget_ms)
        try:
            return self._run(status)
        finally:
            status.state = "ended"
            self._stop_requested = False  # this run's stop, used up
            self._running = False

    def _run(self, status: RunStatus) -> PipelineReport:
        config = self.config
        ending = threading.Event()  # set when the run winds down: a reconnect wait ends at once
        source = self._open_source()
        info = source.info
        if info.camera is not None and info.camera.not_honoured():
            self._warn_camera(info.name, info.camera)  # once a run: a reconnect asks again quietly
        live = self._reconnecting(source, ending) if info.is_live else None
        policy: DropPolicy = config.drop_policy or ("latest" if info.is_live else "block")
        # Under "latest" one slot is the point: the loop always gets the newest frame.
        buffer: FrameBuffer[CapturedFrame] = FrameBuffer(
            1 if policy == "latest" else config.buffer_size, policy
        )
        with ExitStack() as stack:
            # From here the reader owns the source and releases it on every path.
            reader = stack.enter_context(
                FrameReader(
                    live or source,
                    buffer,
                    realtime=config.realtime,
                    loop=config.loop,
                    limit=config.max_frames if policy == "block" else None,
                    clock=self.clock,
                )
            )
            budget_ms = config.budget_ms or (1000.0 / info.fps if info.fps else DEFAULT_BUDGET_MS)
            stats = FrameStats(budget_ms, self.clock, config.miss_streak_warning)
            run = _Run(info, policy, buffer, reader, stats, live=live, total=self._total(info))
            if self.output is not None:
                run.output = self._open_output(self.output, info)
                stack.callback(self._close_output, run)
            if config.display:
                run.display = stack.enter_context(Display(f"framepipe: {info.name}"))
            run.results = self._open_results(stack)
            run.epoch_offset = time.time() - self.clock()
            if config.workers > 1:
                run.workers = stack.enter_context(
                    open_workers(self.processor_spec, config.workers, config.worker_kind)  # type: ignore[arg-type]
                )
            status.attach(info.name, budget_ms, reader, buffer, stats, live, info.camera)
            self._log_start(run)
            stats.start()
            reader.start()
            # Unwound first: stop reading (a live source would go on) and stop the clock.
            stack.callback(stats.stop)
            stack.callback(reader.stop)
            stack.callback(ending.set)
            stack.callback(setattr, status, "state", "stopping")
            status.state = "running"
            self._loop(run, status)
        if not reader.join(0):
            self.logger.warning(
                "reader thread did not stop within %.0f s", FrameReader.JOIN_TIMEOUT_S
            )
        report = self._report(run)
        status.finish(report)
        if run.failure is not None:
            raise PipelineError(run.failure[0], report) from run.failure[1]
        return report

    def _open_source(self) -> Source:
        if isinstance(self.source, Source):
            return self.source
        return open_source(
            self.source,
            open_timeout_s=self.config.open_timeout_s,
            read_timeout_s=self.config.stall_timeout_s,
            cancelled=lambda: self._stop_requested,
            camera=self.config.camera,
        )

    def _warn_camera(self, name: str, camera: CameraReading) -> None:
        self.logger.warning("camera %s did not honour %s", name, camera.describe_not_honoured())

    def _reconnecting(self, source: Source, ending: threading.Event) -> ReconnectingSource:
        """A live source that reopens after a drop or a stall, as the config allows."""
        config = self.config

        def cancelled() -> bool:
            return self._stop_requested or ending.is_set()

        def reopen() -> Source:
            return source.reopen(
                open_timeout_s=config.open_timeout_s,
                read_timeout_s=config.stall_timeout_s,
                cancelled=cancelled,
            )

        return ReconnectingSource(
            source,
            reopen,
            self.logger,
            attempts=config.reconnect_attempts,
            max_backoff_s=config.reconnect_max_s,
            cancelled=cancelled,
        )

    def _total(self, info: SourceInfo) -> int | None:
        """Frames a known-length source will give: a progress bar's length (None: live)."""
        total, limit = info.frame_count, self.config.max_frames
        if self.config.loop:
            total = None  # as long as it is let run
        if limit is not None and not info.is_live:
            total = min(total, limit) if total is not None else limit
        return total

    def _open_results(self, stack: ExitStack) -> ResultsWriter | None:
        """The results writer, when a file or a callback wants results; closed with the run."""
        path = self.config.results
        if path is None and self.on_results is None:
            return None
        try:
            writer = ResultsWriter(
                None if path is None else str(path),
                max_bytes=RESULTS_MAX_BYTES,
                backup_count=RESULTS_BACKUP_COUNT,
                on_results=self.on_results,
                report=lambda message: self.logger.error("%s", message),
            )
        except OSError as exc:
            raise OutputError(f"cannot write results to {path}: {one_line(exc)}") from None
        stack.callback(writer.close, RESULTS_CLOSE_TIMEOUT_S)
        return writer

    def _loop(self, run: _Run, status: RunStatus) -> None:
        """Take frames until the end, ``max_frames``, ``stop()`` or a failure; set ``run.end``."""
        if run.workers is not None:
            self._parallel_loop(run, status, run.workers)
            return
        buffer, stats, output, display = run.buffer, run.stats, run.output, run.display
        log, processor, publish = self.logger, self.processor, status.window.publish
        observe = status.histograms.observe
        log_every, max_frames, progress = (
            self.config.log_every,
            self.config.max_frames,
            self.progress,
        )
        skip_errors = self.config.on_error == "skip"
        processed = failed_in_a_row = 0
        submit = self._results_submitter(run, status)
        while True:
            if self._stop_requested:
                log.info("stop requested after %d frames", processed)
                run.end = "stopped"
                return
            try:
                item = buffer.get(_POLL_S)
            except BufferClosed:
                run.end = self._source_end(run)
                return
            if item is None:
                continue
            run.taken += 1
            started = stats.begin_frame()
            stage = "processor"
            try:
                frame, results = split_output(processor(item.image), item.image)
                stage = "output"
                if output is not None:
                    output.write(frame)
                stage = "display"
                keep_open = display.show(frame) if display is not None else True
            except Exception as exc:
                if skip_errors and stage == "processor":
                    failed_in_a_row += 1
                    status.frame_failed()
                    if self._skip(exc, item.index, failed_in_a_row, run):
                        continue
                    return
                log.exception("%s failed on frame %d", stage, item.index)
                run.fail(f"{stage} failed on frame {item.index}: {one_line(exc)}", exc)
                return
            failed_in_a_row = 0
            if results is not None:
                submit(item, results)
            if processed % log_every == 0:
                self._log_frame(item.index, (self.clock() - started) * 1000.0, stats.budget_ms)
            done = stats.finish_frame(started, item.captured_at)
            publish(done.frame_ms, done.age_ms, done.finished_at, frame)
            observe(done.frame_ms / 1000.0, done.age_ms / 1000.0)
            processed += 1
            if done.streak is not None:
                self._log_streak(done.streak, item.index, done.frame_ms, stats.budget_ms)
            if progress is not None and not self._call_progress(progress, run, done.frame_ms):
                progress = None
            if not keep_open:
                log.info("display closed after %d frames", processed)
                run.end = "display_closed"
                return
            if max_frames is not None and processed >= max_frames:
                run.end = "max_frames"
                return

    def _results_submitter(
        self, run: _Run, status: RunStatus
    ) -> Callable[[CapturedFrame, Any], None]:
        """What the loop calls with a frame's results: kept for the snapshot (the monitor shows
        the last ones) and queued for the writer, which never makes the loop wait."""
        writer, offset = run.results, run.epoch_offset
        stream = self.stream or run.info.name
        seen = status.results_seen
        status.results_writer = writer

        def submit(item: CapturedFrame, results: Any) -> None:
            t = item.captured_at + offset
            seen(item.index, t, results)
            if writer is not None:
                writer.submit(stream, item.index, t, results)

        return submit

    def _parallel_loop(self, run: _Run, status: RunStatus, workers: FrameWorkers) -> None:
        """The loop with ``workers`` processor chains: up to that many frames in flight, their
        outputs handed on in the order the frames were taken. A frame's time runs from when the
        loop took it to when its output was handed on; a stop lets the frames in flight finish."""
        pending: deque[tuple[int, CapturedFrame, float]] = deque()
        try:
            self._fill_and_hand_on(run, status, workers, pending)
        finally:
            run.taken -= len(pending)  # taken but never handed on: counted as dropped

    def _fill_and_hand_on(
        self,
        run: _Run,
        status: RunStatus,
        workers: FrameWorkers,
        pending: deque[tuple[int, CapturedFrame, float]],
    ) -> None:
        buffer, stats, max_frames = run.buffer, run.stats, self.config.max_frames
        submit_results = self._results_submitter(run, status)
        processed = failed_in_a_row = 0
        source_done = stopping = False
        while True:
            if self._stop_requested and not stopping:
                stopping = True
                self.logger.info("stop requested after %d frames", processed)
            room = len(pending) < workers.workers and not (source_done or stopping)
            if room and (max_frames is None or run.taken < max_frames):
                try:
                    item = buffer.get(0.002 if pending else _POLL_S)
                except BufferClosed:
                    source_done, item = True, None
                if item is not None:
                    run.taken += 1
                    pending.append((run.taken, item, stats.begin_frame()))
                    workers.submit(run.taken, item.image)
                    continue
            if not pending:
                if stopping:
                    run.end = "stopped"
                    return
                if source_done:
                    run.end = self._source_end(run)
                    return
                if max_frames is not None and run.taken >= max_frames:
                    run.end = "max_frames"
                    return
                continue
            seq, item, started = pending[0]
            done = workers.wait(seq, 0.002 if room else _POLL_S)
            if done is None:
                continue
            pending.popleft()
            end = self._hand_on(run, status, item, started, done, processed, submit_results)
            if end == "skipped":
                failed_in_a_row += 1
                status.frame_failed()
                if self._skip(done.error, item.index, failed_in_a_row, run):  # type: ignore[arg-type]
                    continue
                return
            if end == "failed":
                return
            failed_in_a_row = 0
            processed += 1
            if end is not None:
                run.end = end
                return
            if max_frames is not None and processed >= max_frames:
                run.end = "max_frames"
                return

    def _hand_on(
        self,
        run: _Run,
        status: RunStatus,
        item: CapturedFrame,
        started: float,
        done: Done,
        processed: int,
        submit_results: Callable[[CapturedFrame, Any], None],
    ) -> EndReason | Literal["skipped", "failed"] | None:
        """One frame's output, in order: to the outputs, the statistics and the results.

        "skipped": the processor failed and ``on_error`` is skip; "failed": the run's failure
        is recorded; an end reason: the run ends after this frame; None: go on.
        """
        stage = "processor"
        try:
            if done.error is not None:
                if self.config.on_error == "skip":
                    return "skipped"
                raise done.error
            frame, results = split_output(done.output, item.image)
            stage = "output"
            if run.output is not None:
                run.output.write(frame)
            stage = "display"
            keep_open = run.display.show(frame) if run.display is not None else True
        except Exception as exc:
            self.logger.error(
                "%s failed on frame %d: %s", stage, item.index, one_line(exc), exc_info=exc
            )
            run.fail(f"{stage} failed on frame {item.index}: {one_line(exc)}", exc)
            return "failed"
        if results is not None:
            submit_results(item, results)
        stats = run.stats
        if processed % self.config.log_every == 0:
            self._log_frame(item.index, (self.clock() - started) * 1000.0, stats.budget_ms)
        finished = stats.finish_frame(started, item.captured_at)
        status.window.publish(finished.frame_ms, finished.age_ms, finished.finished_at, frame)
        status.histograms.observe(finished.frame_ms / 1000.0, finished.age_ms / 1000.0)
        if finished.streak is not None:
            self._log_streak(finished.streak, item.index, finished.frame_ms, stats.budget_ms)
        if run.progress_on and self.progress is not None:
            run.progress_on = self._call_progress(self.progress, run, finished.frame_ms)
        if not keep_open:
            self.logger.info("display closed after %d frames", processed + 1)
            return "display_closed"
        return None

    def _skip(self, exc: Exception, index: int, in_a_row: int, run: _Run) -> bool:
        """Log a processor failure under ``on_error="skip"``; False (the run's failure) when
        it makes ``max_consecutive_failures`` in a row. The traceback goes with the first
        failure of a streak only, so a processor failing on every frame cannot flood the log."""
        limit = self.config.max_consecutive_failures
        if in_a_row >= limit:
            message = (
                f"processor failed on {in_a_row} frames in a row, the last frame {index}: "
                f"{one_line(exc)}"
            )
            self.logger.error("%s; stopping", message, exc_info=exc)
            run.fail(message, exc)
            return False
        self.logger.error(
            "processor failed on frame %d: %s; frame skipped",
            index,
            one_line(exc),
            exc_info=exc if in_a_row == 1 else None,
        )
        return True

    def _source_end(self, run: _Run) -> EndReason:
        """Why the source ran out: an error, a stop (a reconnect wait gives up at once and ends
        the source before the loop looks at the flag again), or its own end."""
        if run.reader.error is not None:
            return "error"
        return "stopped" if self._stop_requested else "end"

    def _call_progress(
        self, progress: Callable[[Progress], None], run: _Run, frame_ms: float
    ) -> bool:
        """Hand the callback this frame's progress; False (logged once) when it raised."""
        try:
            progress(
                Progress(
                    frames_processed=run.stats.frames,
                    frames_read=run.reader.frames_read,
                    frames_dropped=run.buffer.dropped,
                    frame_ms=frame_ms,
                    budget_misses=run.stats.misses,
                    elapsed_s=run.stats.duration_s,
                    total=run.total,
                )
            )
        except Exception:
            # Progress is a view (a terminal that may have gone away): never the run.
            self.logger.exception("progress callback failed; no more progress in this run")
            return False
        return True

    @staticmethod
    def _open_output(path: Path, info: SourceInfo) -> VideoOutput:
        # The size is the processed frames': a processor may scale or crop what it returns.
        try:
            return VideoOutput(path, fps=info.fps or 30.0)
        except ValueError as exc:  # checked when built, but the directory may have gone since
            raise OutputError(f"cannot write video {path}: {exc}") from None

    def _close_output(self, run: _Run) -> None:
        """Finalise the video; a file that did not keep its frames is the run's failure."""
        if run.output is None:
            return
        try:
            run.output.close()
        except OutputError as exc:
            self.logger.error("output failed: %s", exc)
            run.fail(str(exc), exc)

    def _report(self, run: _Run) -> PipelineReport:
        """Settle the counts after teardown, log the end and build the report."""
        reader, buffer, stats, log = run.reader, run.buffer, run.stats, self.logger
        # Every frame read was taken by the loop or is gone from the buffer: evicted by the
        # ``latest`` policy, or still there when the run stopped (both counted as dropped).
        left_in_buffer = max(0, reader.frames_read - run.taken - buffer.dropped)
        stats.dropped = buffer.dropped + left_in_buffer
        if run.failure is None and reader.error is not None:
            if isinstance(reader.error, SourceLost):
                message = " ".join(str(reader.error).split())  # what was lost, when and why
                log.error("source failed: %s", message)
            else:
                message = (
                    f"reading {run.info.name} failed after {reader.frames_read} frames: "
                    f"{one_line(reader.error)}"
                )
                log.error("source failed: %s", message, exc_info=reader.error)
            run.fail(message, reader.error)
        summary = stats.summary()
        log.info(
            "pipeline end (%s): frames_read=%d frames_processed=%d frames_dropped=%d "
            "fps=%.1f budget_misses=%d (%.1f%%) longest_miss_streak=%d p99=%.2fms",
            run.end,
            reader.frames_read,
            summary.frames_processed,
            summary.frames_dropped,
            summary.fps,
            summary.budget_misses,
            summary.budget_miss_pct,
            summary.longest_miss_streak,
            summary.frame_ms["p99"],
        )
        return PipelineReport(
            source=hide_secrets(run.info.name),
            processor=self.processor_name,
            frames_read=reader.frames_read,
            frame_stats=summary,
            log=self._flushed_log_stats(),
            frames_failed=run.taken - stats.frames,
            reconnects=run.live.reconnects if run.live else 0,
            disconnected_s=round(run.live.disconnected_s, 3) if run.live else 0.0,
            source_info=run.info,
            drop_policy=run.policy,
            end_reason=run.end,
            frames_written=run.output.frames_written if run.output else 0,
            output=str(self.output) if self.output else None,
            loops=reader.loops if self.config.loop else None,
            **_results_and_workers(run, summary.duration_s),
        )

    def _flushed_log_stats(self) -> Any:
        """The logger's counters once this run's records are written ({} for a plain logger)."""
        flush = getattr(self.logger, "flush", None)
        if flush is not None:
            flush(timeout=5.0)  # on timeout the stats show what is still queued
        get_stats = getattr(self.logger, "get_stats", None)
        return get_stats() if get_stats is not None else {}

    def _log_start(self, run: _Run) -> None:
        info = run.info
        self.logger.info(
            "pipeline start: source=%s kind=%s size=%dx%d fps=%s processor=%s budget=%.1fms "
            "drop_policy=%s realtime=%s",
            hide_secrets(info.name),  # a Source built elsewhere may name itself by its URL
            info.kind,
            info.width,
            info.height,
            f"{info.fps:g}" if info.fps else "unknown",
            self.processor_name,
            run.stats.budget_ms,
            run.policy,
            self.config.realtime,
        )

    def _log_frame(self, index: int, elapsed_ms: float, budget_ms: float) -> None:
        verdict = "met" if elapsed_ms <= budget_ms else "missed"
        self.logger.info(
            "frame %d: %.2f ms, budget %.1f ms %s", index, elapsed_ms, budget_ms, verdict
        )

    def _log_streak(self, streak: MissStreak, index: int, frame_ms: float, budget: float) -> None:
        if streak.ended:
            self.logger.warning("budget miss streak ended after %d frames", streak.length)
        else:
            self.logger.warning(
                "budget missed %d frames in a row (frames up to %d, last %.2f ms > %.1f ms)",
                streak.length,
                index,
                frame_ms,
                budget,
            )


def _results_and_workers(run: _Run, duration_s: float) -> dict[str, Any]:
    """The report's results counts (the writer is closed by now) and workers' busy shares."""
    values: dict[str, Any] = {}
    if run.results is not None:
        counts = run.results.stats()
        values.update(
            results_written=counts.written,
            results_dropped=counts.dropped,
            results_errors=counts.errors,
        )
    if run.workers is not None:
        values["workers"] = run.workers.workers
        values["worker_busy"] = tuple(
            round(min(1.0, busy / duration_s), 3) if duration_s > 0 else 0.0
            for busy in run.workers.busy_s()
        )
    return values


def _source_name(source: str | int | Source | None, spec: SourceSpec | None) -> str:
    """The name a snapshot shows before the source is open (the open source's name after)."""
    if isinstance(source, Source):
        return hide_secrets(source.info.name)
    if spec is None:
        return str(source)
    return Path(str(spec.target)).name if spec.kind == "file" else hide_secrets(str(spec.target))
