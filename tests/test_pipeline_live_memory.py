"""The live window and the snapshots built from it hold constant memory however long a run."""

from __future__ import annotations

import tracemalloc

import numpy as np

from framepipe.pipeline.histogram import FrameHistograms
from framepipe.pipeline.live import WINDOW_FRAMES, LiveWindow
from framepipe.pipeline.status import RunStatus

FRAMES = 200_000
SNAPSHOT_EVERY = 30  # a snapshot a second at 30 FPS, as a worker sends them


def test_a_long_run_s_window_histograms_and_snapshots_do_not_grow() -> None:
    """200,000 frames published into a run's status (window and histograms) with a snapshot
    every 30: from frame 20,000 on, what the process holds does not grow."""
    status = RunStatus("cam", 33.3)
    window: LiveWindow = status.window
    histograms: FrameHistograms = status.histograms
    frame = np.zeros((48, 64, 3), np.uint8)
    rng = np.random.default_rng(3)
    times = rng.lognormal(1.5, 0.5, FRAMES).tolist()
    readings: list[int] = []
    try:
        for i, ms in enumerate(times):
            if i == 20_000:
                tracemalloc.start()
            elif i % 20_000 == 0 and tracemalloc.is_tracing():
                readings.append(tracemalloc.get_traced_memory()[0])
            window.publish(ms, ms + 1.0, i / 30, frame)
            histograms.observe(ms / 1000, (ms + 1.0) / 1000)
            if i % SNAPSHOT_EVERY == 0:
                snapshot = status.snapshot(i / 30).without_frame()
        readings.append(tracemalloc.get_traced_memory()[0])
    finally:
        tracemalloc.stop()
    first, *later = readings
    assert max(later) - first < 16 * 1024, readings
    assert window.count == FRAMES and snapshot.frames_processed > FRAMES - SNAPSHOT_EVERY
    assert histograms.frame.read().count == FRAMES
    assert len(window.frame_ms()) == 3 and window.size == WINDOW_FRAMES
