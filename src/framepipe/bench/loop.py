"""The timed frame loop: processor plus logging per frame, timed like ``timeit``.

The clock is injected (default ``time.perf_counter_ns``) so tests can drive the loop with a
manual clock. The loop itself allocates nothing per frame: sample buffers are preallocated.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["LOG_TEMPLATE", "Clock", "LogCall", "RunTimings", "time_frames"]

Clock = Callable[[], int]
# A log call as the frame loop makes it: ``info(template, frame_index, processing_ms)``.
LogCall = Callable[..., Any]

# printf-style; loguru's mode brings its own ``{}`` template.
LOG_TEMPLATE = "frame %d processed in %.3f ms"


@dataclass(frozen=True)
class RunTimings:
    """What one timed run measured, in clock units (nanoseconds with the default clock)."""

    frame_ns: list[int]  # processor + logging, per frame
    call_ns: list[int]  # caller side of each log call
    wall_ns: int  # first frame start to last frame end


def time_frames(
    frames: Sequence[Any],
    count: int,
    processor: Callable[[Any], Any],
    info: LogCall | None,
    log_every: int,
    template: str = LOG_TEMPLATE,
    clock: Clock = time.perf_counter_ns,
) -> RunTimings:
    """Run ``count`` frames (cycling through ``frames``) and time each one.

    Every ``log_every``-th frame (0, N, 2N, ...) is logged with ``info(template, index, ms)``;
    ``info=None`` is the no-logging baseline. The caller decides about GC (see
    ``framepipe._stats.gc_disabled``).
    """
    if count < 1:
        raise ValueError(f"count must be at least 1, but got {count!r}")
    if not frames:
        raise ValueError("frames must not be empty, but got no frames")
    if log_every < 1:
        raise ValueError(f"log_every must be at least 1, but got {log_every!r}")
    pool = len(frames)
    frame_ns = [0] * count
    logged = 0 if info is None else len(range(0, count, log_every))
    call_ns = [0] * logged
    call = 0
    start = clock()
    for index in range(count):
        t0 = clock()
        processor(frames[index % pool])
        if info is not None and index % log_every == 0:
            c0 = clock()
            info(template, index, (c0 - t0) / 1e6)
            c1 = clock()
            call_ns[call] = c1 - c0
            call += 1
        frame_ns[index] = clock() - t0
    wall_ns = clock() - start
    return RunTimings(frame_ns=frame_ns, call_ns=call_ns, wall_ns=wall_ns)
