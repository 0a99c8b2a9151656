"""The run report: the summary JSON (``to_dict``) and its human-readable form (``to_text``)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from framepipe._camera import CameraReading
from framepipe._stats import QuantileSketch
from framepipe._text import plural
from framepipe.pipeline.sources import SourceInfo
from framepipe.pipeline.stats import FrameSummary, with_timings_of
from framepipe.typing import DropPolicy

if TYPE_CHECKING:
    from framepipe.pipeline.live import PipelineSnapshot

__all__ = ["EndReason", "PipelineReport"]

# Why the frame loop ended: the source ran out, --max-frames, stop()/a signal, the display
# window was closed, or an error in the reader or the processor.
EndReason = Literal["end", "max_frames", "stopped", "display_closed", "error"]

# The summary JSON keys, in order (an interface: scripts read them).
SUMMARY_KEYS = (
    "source",
    "processor",
    "frames_read",
    "frames_processed",
    "frames_dropped",
    "frames_failed",
    "reconnects",
    "disconnected_s",
    "duration_s",
    "fps",
    "budget_ms",
    "budget_misses",
    "budget_miss_pct",
    "longest_miss_streak",
    "frame_ms",
    "frame_age_ms",
    "percentiles_estimated",
    "results_written",
    "results_dropped",
    "results_errors",
    "workers",
    "worker_busy",
    "log",
)


@dataclass(frozen=True)
class PipelineReport:
    """What one run did and how well it kept the per-frame budget.

    ``frame_stats`` holds the timing statistics; its fields read as the report's own too
    (``report.fps`` is ``report.frame_stats.fps``). A report made from a snapshot
    (:meth:`from_snapshot`) does not know every figure: what it does not know is NaN, or None
    for a count, and ``null`` in ``to_dict()``.
    """

    source: str
    processor: str
    frames_read: int
    frame_stats: FrameSummary
    log: Mapping[str, Any]  # the logger's get_stats() after the run; empty without one
    frames_failed: int = 0  # taken by the loop, then the processor or the output failed
    reconnects: int = 0  # times a live source was reopened after a drop or a stall
    disconnected_s: float = 0.0  # seconds a live source spent without a connection
    # Results lines (framepipe.pipeline.results): written, dropped (the queue was full) and
    # refused (not JSON, or a failed write); every frame that had results is one of the three.
    results_written: int = 0
    results_dropped: int = 0
    results_errors: int = 0
    workers: int = 1  # processor chains that ran frames in parallel
    # Each worker's share of the run spent processing; None: not known (a run with several
    # workers that ended without its report).
    worker_busy: tuple[float, ...] | None = ()
    # Not part of the summary JSON: context for the caller and the human summary.
    source_info: SourceInfo | None = None
    drop_policy: DropPolicy = "block"
    end_reason: EndReason = "end"
    frames_written: int = 0
    output: str | None = None
    # A looping run: times its source started again (in the summary JSON as ``loops``); None:
    # the run did not loop, and the key is left out.
    loops: int | None = None
    # The stream's name when the run was given one (``--name``): first in the summary JSON, as
    # in a stream's entry of several; None: the key is left out.
    stream: str | None = None

    @classmethod
    def from_snapshot(
        cls, snapshot: PipelineSnapshot | None, *, source: str, processor: str
    ) -> PipelineReport:
        """The report a run's last snapshot tells, for a run that ended without its own (its
        process was killed); ``snapshot`` None: it died before it sent one.

        ``source`` names the run when the snapshot does not (before its source opened). The
        logger's counters are the snapshot's where it carries them (else empty); the time
        without a connection is not known; the run ended in an error.
        """
        name = snapshot.source if snapshot is not None and snapshot.source else source
        return cls(
            source=name,
            processor=processor,
            frames_read=snapshot.frames_read if snapshot is not None else 0,
            frame_stats=FrameSummary.from_snapshot(snapshot),
            log=dict(snapshot.log) if snapshot is not None and snapshot.log is not None else {},
            frames_failed=snapshot.frames_failed if snapshot is not None else 0,
            reconnects=snapshot.reconnects if snapshot is not None else 0,
            disconnected_s=math.nan,
            results_written=snapshot.results_written if snapshot is not None else 0,
            results_dropped=snapshot.results_dropped if snapshot is not None else 0,
            results_errors=snapshot.results_errors if snapshot is not None else 0,
            end_reason="error",
        )

    def with_timings_of(self, earlier: FrameSummary | None) -> PipelineReport:
        """This report with its frame time and age statistics over the frames of ``earlier``
        runs (a restarted stream's attempts, merged) too; every count as it is."""
        if earlier is None:
            return self
        return replace(self, frame_stats=with_timings_of(self.frame_stats, earlier))

    @property
    def frames_processed(self) -> int:
        return self.frame_stats.frames_processed

    @property
    def frames_dropped(self) -> int:
        return self.frame_stats.frames_dropped

    @property
    def duration_s(self) -> float:
        return self.frame_stats.duration_s

    @property
    def fps(self) -> float:
        return self.frame_stats.fps

    @property
    def budget_ms(self) -> float:
        return self.frame_stats.budget_ms

    @property
    def budget_misses(self) -> int:
        return self.frame_stats.budget_misses

    @property
    def budget_miss_pct(self) -> float:
        return self.frame_stats.budget_miss_pct

    @property
    def longest_miss_streak(self) -> int | None:
        return self.frame_stats.longest_miss_streak

    @property
    def frame_ms(self) -> dict[str, float]:
        return self.frame_stats.frame_ms

    @property
    def frame_age_ms(self) -> dict[str, float]:
        return self.frame_stats.frame_age_ms

    @property
    def percentiles_estimated(self) -> bool:
        return self.frame_stats.percentiles_estimated

    @property
    def frame_sketch(self) -> QuantileSketch | None:
        return self.frame_stats.frame_sketch

    @property
    def age_sketch(self) -> QuantileSketch | None:
        return self.frame_stats.age_sketch

    def to_dict(self) -> dict[str, Any]:
        """The summary as JSON-ready plain values, with exactly the documented keys.

        A number that is not finite becomes ``None`` (JSON ``null``): ``Infinity`` and ``NaN``
        are not JSON, and strict readers refuse the whole document for them.
        """
        values: dict[str, Any] = {} if self.stream is None else {"stream": self.stream}
        values.update((key, _finite(getattr(self, key))) for key in SUMMARY_KEYS)
        for key in ("frame_ms", "frame_age_ms", "log"):
            values[key] = {name: _finite(value) for name, value in getattr(self, key).items()}
        values["worker_busy"] = None if self.worker_busy is None else list(self.worker_busy)
        if self.loops is not None:
            values["loops"] = self.loops
        if self.camera is not None:
            values["camera"] = self.camera.to_dict()
        return values

    @property
    def camera(self) -> CameraReading | None:
        """The camera settings asked for and what the camera delivered (``camera`` in the
        summary JSON when settings were asked for)."""
        return None if self.source_info is None else self.source_info.camera

    @property
    def truncated(self) -> bool:
        """True when a file that is shorter than its container declares ran out by itself.

        Not judged by the frame count: that is often an estimate (see ``SourceInfo``).
        """
        info = self.source_info
        return self.end_reason == "end" and info is not None and info.cut_off

    @property
    def truncation_error(self) -> str | None:
        """What a truncated run failed to do, in one line; None when it was not truncated."""
        if not self.truncated:
            return None
        info = self.source_info
        expected = info.frame_count if info is not None else None
        declared = "an unknown number of frames" if expected is None else plural(expected, "frame")
        return (
            f"truncated video: {self.source} ended after {self.frames_read} of "
            f"{declared} (processed what decoded)"
        )

    def to_text(self) -> str:
        """A short human summary for the terminal."""
        f, a = self.frame_ms, self.frame_age_ms
        lines = [] if self.stream is None else [f"stream      {self.stream}"]
        lines += [
            f"source      {self.source}  (processor {self.processor}, drop policy "
            f"{self.drop_policy}, ended: {self.end_reason.replace('_', ' ')})",
            f"frames      {self.frames_processed} processed of {self.frames_read} read, "
            f"{self.frames_dropped} dropped"
            + (f", {self.frames_failed} failed" if self.frames_failed else "")
            + f", in {self.duration_s:.2f} s ({self.fps:.1f} FPS)",
        ]
        if self.loops is not None:
            lines.append(f"loops       started again {plural(self.loops, 'time')}")
        if self.camera is not None:
            missed = self.camera.not_honoured()
            lines.append(
                f"camera      asked for {self.camera.requested}; delivers {self.camera.delivered}"
                + (f" (not honoured: {', '.join(missed)})" if missed else "")
            )
        if self.reconnects or self.disconnected_s:
            lines.append(
                f"reconnects  {self.reconnects}, {self.disconnected_s:.1f} s without a connection"
            )
        estimated = "  (percentiles estimated, within 1 %)" if self.percentiles_estimated else ""
        lines += [
            f"budget      {self.budget_ms:.1f} ms: {self.budget_misses} missed "
            f"({self.budget_miss_pct:.1f} %), longest streak {self.longest_miss_streak}",
            f"frame ms    mean {f['mean']:.2f}  p50 {f['p50']:.2f}  p95 {f['p95']:.2f}  "
            f"p99 {f['p99']:.2f}  max {f['max']:.2f}{estimated}",
            f"frame age   p50 {a['p50']:.2f}  p99 {a['p99']:.2f}  max {a['max']:.2f} ms",
        ]
        log = self.log
        if log:
            lines.append(
                f"log         {plural(log.get('written', 0), 'record')} written, "
                f"{log.get('dropped', 0)} dropped, {plural(log.get('errors', 0), 'error')} "
                f"({log.get('mode', '?')}) -> {log.get('log_file')}"
            )
        if self.output is not None:
            lines.append(f"output      {plural(self.frames_written, 'frame')} -> {self.output}")
        if self.results_written or self.results_dropped or self.results_errors:
            lines.append(
                f"results     {plural(self.results_written, 'line')} written, "
                f"{self.results_dropped} dropped, {plural(self.results_errors, 'error')}"
            )
        if self.workers > 1:
            shares = self.worker_busy
            busy = "unknown" if shares is None else "  ".join(f"{s * 100:.0f} %" for s in shares)
            lines.append(f"workers     {self.workers}, busy {busy}")
        return "\n".join(lines)


def _finite(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value
