"""``PipelineSnapshot``: how one run is going at one moment, the value every observer reads.

A snapshot travels to other processes (a stream's supervisor, the stats server) without its
frame. Its class lives in this leaf, which imports nothing heavy, so a process can unpickle one
without numpy, OpenCV or the frame pipeline; ``framepipe.pipeline`` is where it is made and
exported.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from framepipe._camera import CameraReading

if TYPE_CHECKING:
    from framepipe._stats import QuantileSketch
    from framepipe.typing import Frame

__all__ = ["HistogramCounts", "PipelineSnapshot", "RunState", "merge_histograms"]

# reconnecting: running, but the live source dropped and is being reopened (no frames meanwhile).
RunState = Literal["starting", "running", "reconnecting", "stopping", "ended"]


@dataclass(frozen=True)
class HistogramCounts:
    """One distribution in fixed buckets: cumulative counts (the last one is +Inf) and the sum
    of the values, in seconds. Two readings with the same bounds add up (:meth:`merged`), so a
    stream's counts can be summed over the processes that ran it."""

    bounds: tuple[float, ...]
    cumulative: tuple[int, ...]
    sum: float

    @property
    def count(self) -> int:
        return self.cumulative[-1]

    def merged(self, other: HistogramCounts) -> HistogramCounts:
        """The counts of both readings together; ValueError when their bounds differ."""
        if other.bounds != self.bounds:
            raise ValueError(
                f"histograms with different bounds cannot be added: {self.bounds!r} and "
                f"{other.bounds!r}"
            )
        cumulative = tuple(a + b for a, b in zip(self.cumulative, other.cumulative, strict=True))
        return HistogramCounts(self.bounds, cumulative, self.sum + other.sum)


def merge_histograms(
    first: HistogramCounts | None, second: HistogramCounts | None
) -> HistogramCounts | None:
    """Both readings added up; either one alone when the other is None."""
    if first is None or second is None:
        return second if first is None else first
    return first.merged(second)


@dataclass(frozen=True)
class PipelineSnapshot:
    """A run's progress at one moment, safe to read from any thread.

    ``frame_ms`` (``p50``, ``p99``, ``max``) and ``frame_age_ms`` (``p50``, ``p99``) cover the
    last ``WINDOW_FRAMES`` frames (``framepipe.pipeline.live``), ``fps`` the frames finished in
    the last ~2 s. ``last_frame_at`` is on the pipeline's clock (``time.perf_counter`` unless
    injected), None before the first frame. ``latest_frame`` is the last processed frame itself,
    not a copy: treat it as read-only; :meth:`without_frame` is what crosses a process boundary.
    ``reconnects`` and ``disconnected_s`` count a live source's drops and the seconds it spent
    without a connection (a drop in progress included). ``frame_histogram`` and
    ``age_histogram`` count every processed frame of the run in fixed buckets (seconds), None
    where nobody counted them.
    ``results_written``, ``results_dropped`` and ``results_errors`` count the results lines
    (``framepipe.pipeline.results``); ``last_results`` is the last frame's results that JSON
    can hold, as plain values ``{"frame", "t", "results"}``, None before any. ``loops`` counts
    the times a looping source started again, ``log`` the run's log records (the logger's
    ``get_stats()``) where the sender of the snapshot adds them.
    """

    state: RunState
    source: str
    budget_ms: float
    frames_read: int
    frames_processed: int
    frames_dropped: int
    frames_failed: int
    budget_misses: int
    reconnects: int
    elapsed_s: float
    fps: float
    frame_ms: dict[str, float]
    frame_age_ms: dict[str, float]
    last_frame_at: float | None
    latest_frame: Frame | None
    camera: CameraReading | None = None  # settings asked of a camera and what it delivers
    disconnected_s: float = 0.0
    frame_histogram: HistogramCounts | None = None
    age_histogram: HistogramCounts | None = None
    results_written: int = 0
    results_dropped: int = 0
    results_errors: int = 0
    last_results: Any = None
    # Times a looping source started again; the run's logger's counters (``get_stats()``), None
    # where nobody counted them (a worker puts them in the snapshots it sends).
    loops: int = 0
    log: Mapping[str, Any] | None = None
    # Every processed frame's time and age (ms) in bounded sketches: percentiles over the whole
    # run that merge across a stream's attempts, so a worker killed before its report still
    # counts. None where nobody kept them; left out of what the stats server is sent.
    frame_sketch: QuantileSketch | None = None
    age_sketch: QuantileSketch | None = None

    def seconds_since_last_frame(self, now: float) -> float | None:
        """Seconds from the last processed frame to ``now`` (same clock), None before any."""
        return None if self.last_frame_at is None else max(0.0, now - self.last_frame_at)

    def without_frame(self) -> PipelineSnapshot:
        """This snapshot with ``latest_frame`` None: what is sent to another process (frames
        never cross a process boundary)."""
        if self.latest_frame is None:
            return self
        return dataclasses.replace(self, latest_frame=None)
