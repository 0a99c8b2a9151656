"""The frame loop: source -> reader thread -> bounded buffer -> processor -> outputs, timed.

The processor runs on the calling thread (stateful processors need no locks); the reader thread
overlaps decoding with processing. Every Nth frame is logged through the non-blocking logger,
a streak of budget misses is logged as a WARNING, and every stage is stopped in ``finally``, so
an exception anywhere ends the run instead of hanging it.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from framepipe._paths import OutputPath, check_outputs
from framepipe.pipeline.buffer import DROP_POLICIES, BufferClosed, DropPolicy, FrameBuffer
from framepipe.pipeline.display import Display
from framepipe.pipeline.output import OutputError, VideoOutput, check_output_path
from framepipe.pipeline.reader import CapturedFrame, FrameReader
from framepipe.pipeline.report import EndReason, PipelineReport
from framepipe.pipeline.sources import Frame, Source, open_source, parse_source
from framepipe.pipeline.stats import FrameStats

__all__ = ["DEFAULT_BUDGET_MS", "Pipeline", "PipelineError", "ProcessorSpec", "Progress"]

DEFAULT_BUDGET_MS = 33.3  # when the source does not say its frame rate
_READER_JOIN_TIMEOUT_S = 5.0
_POLL_S = 0.1  # how often a waiting loop re-checks stop()

ProcessorFn: TypeAlias = Callable[[Frame], Frame | None]
ProcessorSpec: TypeAlias = str | ProcessorFn | Sequence[str | ProcessorFn] | None


class PipelineError(Exception):
    """A run that failed part-way (processor or source error); ``report`` has what was done."""

    def __init__(self, message: str, report: PipelineReport) -> None:
        super().__init__(message)
        self.report = report


@dataclass(frozen=True)
class Progress:
    """A snapshot passed to the ``progress`` callback after each processed frame."""

    frames_processed: int
    frames_read: int
    frames_dropped: int
    frame_ms: float
    budget_misses: int
    elapsed_s: float
    total: int | None  # frames expected in all (file length or max_frames), None for live


class Pipeline:
    """Process a camera, file, stream or synthetic scene frame by frame under a time budget.

    ``Pipeline(source, processor=fn).run()`` returns a :class:`PipelineReport`; ``stop()`` ends a
    run from another thread or a signal handler. ``source`` is a spec for ``open_source`` or an
    already open :class:`Source` (the run releases it).
    """

    def __init__(
        self,
        source: str | int | Source | None = None,
        *,
        processor: ProcessorSpec = None,
        budget_ms: float | None = None,
        log_every: int = 30,
        log_dir: str | os.PathLike[str] | None = None,
        log_mode: str | None = None,
        output: str | os.PathLike[str] | None = None,
        display: bool = False,
        realtime: bool = False,
        drop_policy: DropPolicy | None = None,
        max_frames: int | None = None,
        buffer_size: int = 4,
        open_timeout_s: float = 10.0,
        miss_streak_warning: int = 5,
        progress: Callable[[Progress], None] | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if budget_ms is not None and not 0 < budget_ms < math.inf:
            raise ValueError(f"budget_ms must be positive and finite, but got {budget_ms}")
        _check_positive_int("log_every", log_every)
        _check_positive_int("buffer_size", buffer_size)
        _check_positive_int("miss_streak_warning", miss_streak_warning)
        if max_frames is not None:
            _check_positive_int("max_frames", max_frames)
        if drop_policy is not None and drop_policy not in DROP_POLICIES:
            raise ValueError(
                f"drop_policy must be one of {', '.join(DROP_POLICIES)}, but got {drop_policy!r}"
            )
        if log_mode is not None and log_mode not in ("async", "sync"):
            raise ValueError(f"log_mode must be 'async' or 'sync', but got {log_mode!r}")
        if not open_timeout_s > 0:
            raise ValueError(f"open_timeout_s must be positive, but got {open_timeout_s}")
        spec = None if isinstance(source, Source) else parse_source(source)  # SourceError early
        self.source = source
        self.processor, self.processor_name = resolve_processor(processor)
        self.budget_ms = budget_ms
        self.log_every = log_every
        self.log_dir = log_dir
        self.log_mode = log_mode
        self.output = check_output_path(output) if output is not None else None
        if self.output is not None and spec is not None and spec.kind == "file":
            # Writing the video over its own source would destroy the input as it is read.
            check_outputs([OutputPath("output", str(self.output), "video")], str(spec.target))
        self.display = display
        self.realtime = realtime
        self.drop_policy = drop_policy
        self.max_frames = max_frames
        self.buffer_size = buffer_size
        self.open_timeout_s = open_timeout_s
        self.miss_streak_warning = miss_streak_warning
        self.progress = progress
        self.clock = clock
        self._stop_requested = False
        self._running = False

    def stop(self) -> None:
        """Ask a running ``run()`` to finish after the current frame.

        Safe from another thread and from a signal handler: it only sets a flag (taking a lock
        here could deadlock against the interrupted main thread).
        """
        self._stop_requested = True

    def run(self) -> PipelineReport:
        """Process until the source ends, ``max_frames``, ``stop()`` or an error.

        Raises SourceError when the source cannot be opened (OpenCancelled when ``stop()`` came
        while it opened), OutputError when the output cannot be written, and PipelineError (with
        the partial report) when the processor or the source fails mid-run.
        """
        if self._running:
            raise RuntimeError("Pipeline.run() is already running")
        self._running = True
        self._stop_requested = False
        try:
            return self._run()
        finally:
            self._running = False

    def _logger(self) -> Any:
        from framepipe.logging import configure, get_logger

        if self.log_dir is not None or self.log_mode is not None:
            return configure(
                log_dir=str(self.log_dir) if self.log_dir is not None else "logs",
                mode=self.log_mode or "async",
            )
        return get_logger()

    def _run(self) -> PipelineReport:
        # The source first: one that does not open must not leave an empty log file behind.
        source = (
            self.source
            if isinstance(self.source, Source)
            else open_source(
                self.source,
                open_timeout_s=self.open_timeout_s,
                cancelled=lambda: self._stop_requested,
            )
        )
        try:
            log = self._logger()
        except BaseException:
            source.release()
            raise
        info = source.info
        budget_ms = self.budget_ms or (1000.0 / info.fps if info.fps else DEFAULT_BUDGET_MS)
        policy: DropPolicy = self.drop_policy or ("latest" if info.is_live else "block")
        # Under "latest" one slot is the point: the loop always gets the newest frame.
        buffer: FrameBuffer[CapturedFrame] = FrameBuffer(
            1 if policy == "latest" else self.buffer_size, policy
        )
        reader = FrameReader(
            source,
            buffer,
            realtime=self.realtime,
            limit=self.max_frames if policy == "block" else None,
            clock=self.clock,
        )
        stats = FrameStats(budget_ms, clock=self.clock)
        try:
            output = VideoOutput(self.output, fps=info.fps or 30.0) if self.output else None
            display = Display(f"framepipe: {info.name}") if self.display else None
        except BaseException:
            source.release()  # the reader, which would release it, never started
            raise
        # A known length gets a progress bar; live sources get a status line instead.
        total = info.frame_count
        if self.max_frames is not None and not info.is_live:
            total = min(total, self.max_frames) if total is not None else self.max_frames
        log.info(
            "pipeline start: source=%s kind=%s size=%dx%d fps=%s processor=%s budget=%.1fms "
            "drop_policy=%s realtime=%s",
            info.name,
            info.kind,
            info.width,
            info.height,
            f"{info.fps:g}" if info.fps else "unknown",
            self.processor_name,
            budget_ms,
            policy,
            self.realtime,
        )
        end: EndReason = "end"
        failure: tuple[str, BaseException] | None = None
        taken = [0]  # frames the loop took from the buffer, processed or not
        stats.start()
        reader.start()
        try:
            end, failure = self._loop(buffer, stats, log, output, display, reader, total, taken)
        finally:
            stats.stop()
            reader.stop()
            if not reader.join(_READER_JOIN_TIMEOUT_S):
                log.warning("reader thread did not stop within %.0f s", _READER_JOIN_TIMEOUT_S)
            if display is not None:
                display.close()
            closed = self._close_output(output, log)
            if failure is None and closed is not None:
                end, failure = "error", closed
        failed = taken[0] - stats.frames
        # Every frame read was taken by the loop or is gone from the buffer: evicted by the
        # ``latest`` policy, or still there when the run stopped (both counted as dropped).
        left_in_buffer = max(0, reader.frames_read - taken[0] - buffer.dropped)
        stats.dropped = buffer.dropped + left_in_buffer
        if failure is None and reader.error is not None:
            end = "error"
            failure = (
                f"reading {info.name} failed after {reader.frames_read} frames: "
                f"{_one_line(reader.error)}",
                reader.error,
            )
            log.error("source failed: %s", failure[0], exc_info=reader.error)
        summary = stats.summary()
        log.info(
            "pipeline end (%s): frames_read=%d frames_processed=%d frames_dropped=%d "
            "fps=%.1f budget_misses=%d (%.1f%%) longest_miss_streak=%d p99=%.2fms",
            end,
            reader.frames_read,
            summary["frames_processed"],
            summary["frames_dropped"],
            summary["fps"],
            summary["budget_misses"],
            summary["budget_miss_pct"],
            summary["longest_miss_streak"],
            summary["frame_ms"]["p99"],  # type: ignore[index]
        )
        log.flush(timeout=5.0)  # on timeout the stats below show what is still queued
        report = PipelineReport(
            source=info.name,
            processor=self.processor_name,
            frames_read=reader.frames_read,
            log=log.get_stats(),
            source_info=info,
            drop_policy=policy,
            end_reason=end,
            frames_failed=failed,
            frames_written=output.frames_written if output else 0,
            output=str(self.output) if self.output else None,
            **summary,  # type: ignore[arg-type]
        )
        if failure is not None:
            raise PipelineError(failure[0], report) from failure[1]
        return report

    @staticmethod
    def _close_output(
        output: VideoOutput | None, log: Any
    ) -> tuple[str, BaseException] | None:
        """Finalise the video; a file that did not keep its frames is the run's failure."""
        if output is None:
            return None
        try:
            output.close()
        except OutputError as exc:
            log.error("output failed: %s", exc)
            return str(exc), exc
        return None

    def _loop(
        self,
        buffer: FrameBuffer[CapturedFrame],
        stats: FrameStats,
        log: Any,
        output: VideoOutput | None,
        display: Display | None,
        reader: FrameReader,
        total: int | None,
        taken: list[int],
    ) -> tuple[EndReason, tuple[str, BaseException] | None]:
        processor, log_every, budget = self.processor, self.log_every, stats.budget_ms
        warn_at = self.miss_streak_warning
        progress = self.progress
        processed = 0
        while True:
            if self._stop_requested:
                log.info("stop requested after %d frames", processed)
                return "stopped", None
            try:
                item = buffer.get(_POLL_S)
            except BufferClosed:
                return ("error" if reader.error else "end"), None
            if item is None:
                continue
            taken[0] += 1
            started = stats.begin_frame()
            stage = "processor"
            try:
                result = processor(item.image)
                frame = item.image if result is None else result
                stage = "output"
                if output is not None:
                    output.write(frame)
                stage = "display"
                keep_open = display.show(frame) if display is not None else True
            except Exception as exc:
                log.exception("%s failed on frame %d", stage, item.index)
                return "error", (f"{stage} failed on frame {item.index}: {_one_line(exc)}", exc)
            if processed % log_every == 0:
                elapsed_ms = (self.clock() - started) * 1000.0
                log.info(
                    "frame %d: %.2f ms, budget %.1f ms %s",
                    item.index,
                    elapsed_ms,
                    budget,
                    "met" if elapsed_ms <= budget else "missed",
                )
            streak_before = stats.miss_streak
            result_stats = stats.finish_frame(started, item.captured_at)
            processed += 1
            streak = result_stats.miss_streak
            if streak == warn_at:
                log.warning(
                    "budget missed %d frames in a row (frames up to %d, last %.2f ms > %.1f ms)",
                    streak,
                    item.index,
                    result_stats.frame_ms,
                    budget,
                )
            elif streak == 0 and streak_before >= warn_at:
                log.warning("budget miss streak ended after %d frames", streak_before)
            if progress is not None:
                try:
                    progress(
                        Progress(
                            frames_processed=processed,
                            frames_read=reader.frames_read,
                            frames_dropped=buffer.dropped,
                            frame_ms=result_stats.frame_ms,
                            budget_misses=stats.misses,
                            elapsed_s=stats.duration_s,
                            total=total,
                        )
                    )
                except Exception:
                    # Progress is a view (a terminal that may have gone away): never the run.
                    log.exception("progress callback failed; no more progress in this run")
                    progress = None
            if not keep_open:
                log.info("display closed after %d frames", processed)
                return "display_closed", None
            if self.max_frames is not None and processed >= self.max_frames:
                return "max_frames", None


def resolve_processor(spec: ProcessorSpec) -> tuple[ProcessorFn, str]:
    """Turn a processor spec (None, a built-in name, a callable or a list) into one callable
    and its display name."""
    if spec is None:
        return _identity, "none"
    if isinstance(spec, str) or callable(spec):
        return _resolve_one(spec)
    if isinstance(spec, Sequence):
        if not spec:
            raise ValueError("processor list must not be empty, but got []")
        steps = [_resolve_one(item) for item in spec]
        functions = [fn for fn, _ in steps]

        def chain(frame: Frame) -> Frame | None:
            for fn in functions:
                result = fn(frame)
                frame = frame if result is None else result
            return frame

        return chain, "+".join(name for _, name in steps)
    raise ValueError(
        f"processor must be a callable, a built-in name or a list of them, but got {spec!r}"
    )


def _resolve_one(item: str | ProcessorFn) -> tuple[ProcessorFn, str]:
    if isinstance(item, str):
        from framepipe.pipeline.processors import get_processor

        return get_processor(item), item
    if not callable(item):
        raise ValueError(f"processor must be a callable or a built-in name, but got {item!r}")
    name = getattr(item, "__name__", None) or type(item).__name__
    return item, str(name)


def _identity(frame: Frame) -> Frame:
    return frame


def _check_positive_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, but got {value!r}")


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
