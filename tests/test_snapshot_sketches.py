"""A snapshot's frame time sketches: carried across a stream's attempts, so the percentiles of
a worker killed before its report still count."""

from __future__ import annotations

import pickle

from framepipe._stats import QuantileSketch
from framepipe.pipeline import Pipeline
from framepipe.pipeline.live import PipelineSnapshot
from framepipe.pipeline.stats import FrameSummary, merged_timings
from framepipe.streams._totals import carried


def attempt(frame_ms: float, frames: int) -> PipelineSnapshot:
    """An attempt's last snapshot: ``frames`` frames of ``frame_ms`` each, its window showing
    only the last one."""
    frame_sketch, age_sketch = QuantileSketch(), QuantileSketch()
    frame_sketch.update([frame_ms] * frames)
    age_sketch.update([2 * frame_ms] * frames)
    window = {"p50": frame_ms, "p99": frame_ms, "max": frame_ms}
    return PipelineSnapshot(
        state="running", source="synthetic", budget_ms=33.3, frames_read=frames,
        frames_processed=frames, frames_dropped=0, frames_failed=0, budget_misses=0,
        reconnects=0, elapsed_s=frames / 30, fps=30.0, frame_ms=window,
        frame_age_ms={"p50": 2 * frame_ms, "p99": 2 * frame_ms}, last_frame_at=1.0,
        latest_frame=None, frame_sketch=frame_sketch, age_sketch=age_sketch,
    )  # fmt: skip


def test_carried_merges_the_sketches_of_every_attempt() -> None:
    both = carried(attempt(10.0, 1000), attempt(1.0, 3000))
    assert both.frame_sketch is not None and both.age_sketch is not None
    assert both.frame_sketch.count == both.age_sketch.count == 4000
    assert both.frame_sketch.percentiles([99])[0] > 9.0


def test_a_killed_worker_s_percentiles_count_in_the_stream_s() -> None:
    """1,000 frames of 10 ms from a worker that died without its report, 3,000 of 1 ms from the
    next: the p99 over both is the slow one's, not the survivor's alone."""
    killed = FrameSummary.from_snapshot(attempt(10.0, 1000))
    survivor = FrameSummary.from_snapshot(attempt(1.0, 3000))
    timings = merged_timings([killed, survivor])
    assert 9.8 <= timings.frame_ms["p99"] <= 10.2
    assert 0.98 <= timings.frame_ms["p50"] <= 1.02
    assert 19.6 <= timings.frame_age_ms["p99"] <= 20.4


def test_a_run_s_snapshot_carries_a_sketch_of_every_frame() -> None:
    pipeline = Pipeline("synthetic:64x48@30:2")  # 60 frames, as fast as they render
    report = pipeline.run()
    snapshot = pipeline.snapshot()
    assert snapshot.frame_sketch is not None and snapshot.age_sketch is not None
    assert snapshot.frame_sketch.count == snapshot.age_sketch.count == report.frames_processed


def test_a_snapshot_with_its_sketches_pickles_small() -> None:
    """A hundred thousand frames between 0.5 and 100 ms: a few hundred buckets, a few KB."""
    sketch = QuantileSketch()
    sketch.update(0.5 + (i % 997) / 10 for i in range(100_000))
    snapshot = attempt(1.0, 1)
    snapshot = PipelineSnapshot(**{**vars(snapshot), "frame_sketch": sketch, "age_sketch": sketch})
    assert len(pickle.dumps(snapshot, pickle.HIGHEST_PROTOCOL)) < 16_000
