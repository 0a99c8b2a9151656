"""A live source that drops and reconnects for weeks keeps counters, not a history."""

from __future__ import annotations

import logging
import tracemalloc

from framepipe.pipeline.reconnect import ReconnectingSource
from framepipe.pipeline.sources import Source, open_source

SCENE = "synthetic:16x16@30:0.1"  # three frames, then the stream "ends": a drop


def test_ten_thousand_reconnects_hold_no_more_than_a_thousand() -> None:
    """A source that ends after every three frames, reopened 10,000 times: its memory from the
    1,000th reconnect on does not grow, and the count and downtime are still exact."""
    quiet = logging.Logger("reconnect-test", level=logging.CRITICAL)  # unregistered, no handler
    source = ReconnectingSource(
        open_source(SCENE), lambda: open_source(SCENE), quiet, sleep=lambda _s: None
    )
    readings: list[int] = []
    frames = 0
    try:
        while source.reconnects < 10_000:
            if source.reconnects == 1_000 and not tracemalloc.is_tracing():
                tracemalloc.start()
            elif tracemalloc.is_tracing() and len(readings) < source.reconnects // 1_000 - 1:
                readings.append(tracemalloc.get_traced_memory()[0])  # at each 1,000 more
            frames += source.read() is not None
        readings.append(tracemalloc.get_traced_memory()[0])
    finally:
        tracemalloc.stop()
        Source.release(source)
    first, *later = readings
    assert max(later) - first < 16 * 1024, readings
    assert source.reconnects == 10_000 and frames >= 3 * 10_000
