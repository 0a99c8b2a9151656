"""Measured benchmark results built by hand, for the row, report and plot tests."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from framepipe.bench.loop import RunTimings
from framepipe.bench.runner import BenchConfig, BenchResult, CellResult
from framepipe.bench.sinks import parse_sink

MS = 1_000_000

# The keys of one row of the JSON report, in their order.
JSON_ROW_KEYS = (
    "sink",
    "log_every",
    "mode",
    "status",
    "frame_ms",
    "overhead_us_per_frame",
    "overhead_pct_budget",
    "budget_misses",
    "fps",
    "call_us",
    "written",
    "dropped",
)


@contextmanager
def root_records() -> Iterator[list[logging.LogRecord]]:
    """Every record that reaches the root logger's handlers while the block runs."""
    seen: list[logging.LogRecord] = []

    class RootSpy(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    spy = RootSpy(logging.DEBUG)
    root = logging.getLogger()
    root.addHandler(spy)
    try:
        yield seen
    finally:
        root.removeHandler(spy)


def timed_run(frame_ms: list[float], call_us: list[float]) -> RunTimings:
    """One run whose frames took ``frame_ms`` and whose log calls took ``call_us``."""
    frame_ns = [int(ms * MS) for ms in frame_ms]
    return RunTimings(
        frame_ns=frame_ns, call_ns=[int(us * 1000) for us in call_us], wall_ns=sum(frame_ns)
    )


def slow_sink_result() -> BenchResult:
    """slow:5 at log-every 1: none 10 ms/frame, sync 15 ms (one 41 ms), async 10.01; no loguru."""
    config = BenchConfig(frames=4, repeat=2, log_every=(1,), sinks=(parse_sink("slow:5"),))
    cells = [
        CellResult("slow:5", 1, "none", "ok", runs=[timed_run([10, 10, 10, 10], [])] * 2),
        CellResult(
            "slow:5",
            1,
            "sync",
            "ok",
            runs=[timed_run([15, 15, 15, 41], [5000] * 4), timed_run([15, 15, 15, 15], [5000] * 4)],
            written=8,
        ),
        CellResult(
            "slow:5",
            1,
            "async",
            "ok",
            runs=[timed_run([10.01] * 4, [2, 3, 4, 5])] * 2,
            written=7,
            dropped=1,
        ),
        CellResult("slow:5", 1, "loguru", "skipped", note="loguru is not importable"),
    ]
    return BenchResult(config, cells, {}, "synthetic", "edges", (48, 64, 3))
