"""Per-frame cost of logging every frame through sync, async and stdlib-queue on a slow:5 sink.

Run: pytest benchmarks/test_bench_per_frame.py --benchmark-only

A round is FRAMES frames of the 720p synthetic scene through ``edges``, each frame logged, using
the same timed loop as ``framepipe bench``. Before every round, in the untimed setup, the mode's
queue is drained and the same loop runs without logging (the ``none`` baseline), so baseline and
subject alternate A B A B ... in one process and drift hits both alike. The overhead per frame
is the difference of the median round times divided by FRAMES; it is stored in ``extra_info``
and checked against these targets: sync close to the sink's 5 ms, async at most 1 % of a
33 ms budget, stdlib-queue below sync.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from framepipe._stats import gc_disabled
from framepipe.bench.loop import time_frames
from framepipe.bench.modes import MODES, Mode
from framepipe.bench.sinks import SlowSink
from framepipe.bench.workload import Workload

FRAMES = 40
ROUNDS = 15
SINK_MS = 5.0
BUDGET_MS = 1000 / 30
pytestmark = pytest.mark.benchmark(group=f"per frame, log every frame, slow:{SINK_MS:g} sink")


@pytest.fixture(scope="module")
def workload() -> Workload:
    """Ten 1280x720 frames of the synthetic scene in memory, and the ``edges`` processor."""
    loaded = Workload.load("synthetic:1280x720@30:10", "edges", frames=FRAMES, pool=10)
    loaded.warm_up()
    return loaded


@pytest.fixture
def started(request: pytest.FixtureRequest) -> Iterator[tuple[Mode, Any]]:
    """The mode named by the test's parameter, started on a fresh slow sink; stopped after."""
    mode = MODES[request.param]()
    sink = SlowSink(SINK_MS)
    with tempfile.TemporaryDirectory(prefix="framepipe-bench-") as directory:
        target = mode.start(sink, Path(directory))
        try:
            yield mode, target
        finally:
            mode.stop()
            sink.close()


def _round(workload: Workload, info: Any, template: str) -> None:
    with gc_disabled():
        time_frames(workload.frames, FRAMES, workload.processor, info, 1, template=template)


@pytest.mark.parametrize(
    ("started", "low_us", "high_us"),
    [
        # sync: every frame waits for the sink's 5 ms (plus formatting), no more than ~1.6x that
        ("sync", 0.8 * SINK_MS * 1000, 1.6 * SINK_MS * 1000),
        # async: at most 1 % of the 33 ms budget per frame
        ("async", float("-inf"), BUDGET_MS * 10),
        # the classic QueueHandler design: well below the sink's time
        ("stdlib-queue", float("-inf"), 0.5 * SINK_MS * 1000),
    ],
    indirect=["started"],
    ids=["sync", "async", "stdlib-queue"],
)
def test_overhead_per_frame(
    benchmark: Any, workload: Workload, started: tuple[Mode, Any], low_us: float, high_us: float
) -> None:
    """Median per-frame overhead of the mode against the interleaved no-logging baseline."""
    mode, target = started
    logged = 0
    baseline_s: list[float] = []

    def drain_then_baseline() -> None:
        assert mode.drain(logged, timeout=60), "the sink did not catch up"
        with gc_disabled():
            begin = time.perf_counter()
            time_frames(workload.frames, FRAMES, workload.processor, None, 1)
            baseline_s.append(time.perf_counter() - begin)

    def subject() -> None:
        nonlocal logged
        _round(workload, target.info, target.template)
        logged += FRAMES

    benchmark.pedantic(subject, setup=drain_then_baseline, rounds=ROUNDS, warmup_rounds=1)
    subject_median = benchmark.stats.stats.median
    overhead_us = (subject_median - statistics.median(baseline_s)) / FRAMES * 1e6
    benchmark.extra_info["overhead_us_per_frame"] = round(overhead_us, 1)
    benchmark.extra_info["overhead_pct_budget"] = round(overhead_us / (BUDGET_MS * 10), 3)
    assert low_us <= overhead_us <= high_us
