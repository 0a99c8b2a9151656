"""How a run is going right now: a lock-free window of recent frames and the snapshot built from it.

The frame loop publishes each frame into fixed-size rings with plain stores (no lock, no
allocation); any other thread builds a :class:`PipelineSnapshot` by copying the rings. A reader
that copies while the loop writes may see one slot from the next frame: a snapshot is a
near-instant view, never a lock the loop has to wait on. The snapshot's class is defined in the
leaf ``framepipe._snapshot`` (another process reads one without numpy) and exported here.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from framepipe._snapshot import PipelineSnapshot, RunState
from framepipe.typing import Frame

__all__ = ["FPS_WINDOW_S", "WINDOW_FRAMES", "LiveWindow", "PipelineSnapshot", "RunState"]

WINDOW_FRAMES = 300  # frames the percentiles cover: 10 s at 30 FPS
FPS_WINDOW_S = 2.0  # the rate is measured over the frames finished in this many seconds


class LiveWindow:
    """The last ``size`` frames' timings, written by the frame loop, read by anyone."""

    def __init__(self, size: int = WINDOW_FRAMES) -> None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 2:
            raise ValueError(f"size must be an integer of at least 2, but got {size!r}")
        self.size = size
        self._frame_ms = np.zeros(size)
        self._age_ms = np.zeros(size)
        self._finished_at = np.zeros(size)
        # Frames published so far; stored last, so a reader never counts a half-written frame.
        self.count = 0
        self.latest_frame: Frame | None = None

    def publish(self, frame_ms: float, age_ms: float, finished_at: float, frame: Frame) -> None:
        """Record one processed frame (frame loop only)."""
        slot = self.count % self.size
        self._frame_ms[slot] = frame_ms
        self._age_ms[slot] = age_ms
        self._finished_at[slot] = finished_at
        self.latest_frame = frame
        self.count += 1

    @property
    def last_finished_at(self) -> float | None:
        count = self.count
        return None if count == 0 else float(self._finished_at[(count - 1) % self.size])

    def frame_ms(self) -> dict[str, float]:
        """``{"p50", "p99", "max"}`` of the frame times in the window (zeros before any frame)."""
        times = self._filled(self._frame_ms)
        if times.size == 0:
            return {"p50": 0.0, "p99": 0.0, "max": 0.0}
        p50, p99 = np.percentile(times, [50, 99])
        return {"p50": _ms(p50), "p99": _ms(p99), "max": _ms(times.max())}

    def frame_age_ms(self) -> dict[str, float]:
        """``{"p50", "p99"}`` of the frame ages in the window (zeros before any frame)."""
        ages = self._filled(self._age_ms)
        if ages.size == 0:
            return {"p50": 0.0, "p99": 0.0}
        p50, p99 = np.percentile(ages, [50, 99])
        return {"p50": _ms(p50), "p99": _ms(p99)}

    def fps(self, now: float) -> float:
        """Frames per second over the frames finished in the last ~2 s before ``now``.

        Counted as intervals between finished frames, so a source that stopped delivering
        decays to 0 once its last frame is older than the window.
        """
        finished = self._filled(self._finished_at)
        recent = np.sort(finished[finished >= now - FPS_WINDOW_S])
        if recent.size < 2:
            return 0.0
        span = max(now, float(recent[-1])) - float(recent[0])
        return round((recent.size - 1) / span, 2) if span > 0 else 0.0

    def _filled(self, ring: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        count = min(self.count, self.size)
        return np.array(ring[:count], dtype=np.float64)


def _ms(value: float) -> float:
    return round(float(value), 3)
