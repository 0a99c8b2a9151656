"""One typed row per measured cell: what the table, the verdicts, the plot and the JSON show.

Overhead is measured against the ``none`` cell of the same sink and log rate: the mean frame
time of the mode minus that of the loop without logging.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from framepipe.bench.runner import BenchResult, CellResult, CellStatus
from framepipe.bench.stats import (
    NS_PER_MS,
    NS_PER_US,
    CallCosts,
    FrameTimes,
    summarize_calls,
    summarize_frames,
)

__all__ = ["BASELINE_MODE", "ResultRow", "result_rows"]

BASELINE_MODE = "none"


@dataclass(frozen=True)
class ResultRow:
    """One sink x log-every x mode; a skipped mode has None for every measured value.

    The field order is the order of the keys in the JSON report.
    """

    sink: str
    log_every: int
    mode: str
    status: CellStatus
    frame_ms: FrameTimes = field(default_factory=FrameTimes)
    overhead_us_per_frame: float | None = None
    overhead_pct_budget: float | None = None
    budget_misses: int | None = None
    fps: float | None = None
    call_us: CallCosts = field(default_factory=CallCosts)
    written: int = 0
    dropped: int = 0

    @property
    def ran(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        """The row as the JSON report holds it, nested summaries as objects."""
        return asdict(self)


def result_rows(result: BenchResult) -> list[ResultRow]:
    """One row per cell, in report order."""
    budget_ns = result.config.budget_ms * NS_PER_MS
    baselines = {
        (cell.sink, cell.log_every): _mean_frame_ns(cell)
        for cell in result.cells
        if cell.mode == BASELINE_MODE and cell.status == "ok" and cell.runs
    }
    return [
        _row(cell, baselines.get((cell.sink, cell.log_every)), budget_ns) for cell in result.cells
    ]


def _row(cell: CellResult, baseline_ns: float | None, budget_ns: float) -> ResultRow:
    if cell.status != "ok" or not cell.runs:
        return ResultRow(sink=cell.sink, log_every=cell.log_every, mode=cell.mode, status="skipped")
    frame_ns = [value for run in cell.runs for value in run.frame_ns]
    call_ns = [value for run in cell.runs for value in run.call_ns]
    wall_ns = sum(run.wall_ns for run in cell.runs)
    overhead_ns = None if baseline_ns is None else _mean_frame_ns(cell) - baseline_ns
    return ResultRow(
        sink=cell.sink,
        log_every=cell.log_every,
        mode=cell.mode,
        status="ok",
        frame_ms=summarize_frames(frame_ns),
        overhead_us_per_frame=None if overhead_ns is None else overhead_ns / NS_PER_US,
        overhead_pct_budget=None if overhead_ns is None else 100 * overhead_ns / budget_ns,
        budget_misses=sum(1 for value in frame_ns if value > budget_ns),
        fps=len(frame_ns) / (wall_ns / 1e9) if wall_ns > 0 else 0.0,
        call_us=summarize_calls(call_ns),
        written=cell.written,
        dropped=cell.dropped,
    )


def _mean_frame_ns(cell: CellResult) -> float:
    samples = [value for run in cell.runs for value in run.frame_ns]
    return sum(samples) / len(samples)
