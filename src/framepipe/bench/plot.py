"""A PNG of the results: per-frame overhead by mode, and frame-time distributions.

Needs matplotlib (the ``plot`` extra). One column per sink: on top, the overhead per frame of each
mode at each log rate (symmetric log scale, since it spans microseconds to milliseconds), with
1 % of the budget marked; below, the distribution of frame times per mode at the highest log rate
(log scale), with the budget marked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from framepipe._text import plural
from framepipe.bench.rows import BASELINE_MODE, ResultRow
from framepipe.bench.runner import BenchResult
from framepipe.bench.stats import NS_PER_MS

__all__ = ["PlotUnavailableError", "write_plot"]


class PlotUnavailableError(RuntimeError):
    """matplotlib is not installed."""


def write_plot(result: BenchResult, rows: list[ResultRow], path: Path) -> None:
    """Draw the overhead bars and frame-time box plots into ``path`` (PNG)."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display needed; must precede pyplot
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise PlotUnavailableError(
            "--plot needs matplotlib: pip install 'framepipe[plot]'"
        ) from exc

    sinks = list(dict.fromkeys(row.sink for row in rows))
    budget_ms = result.config.budget_ms
    figure, axes = plt.subplots(
        2,
        len(sinks),
        figsize=(max(7.0, 6.0 * len(sinks)), 8.0),
        squeeze=False,
        layout="constrained",
    )
    try:
        for column, sink in enumerate(sinks):
            _overhead_bars(axes[0][column], rows, sink, budget_ms)
            _frame_boxes(axes[1][column], result, sink, budget_ms)
        figure.suptitle(
            f"framepipe bench: {result.processor} on {result.source}\n"
            f"{plural(result.config.frames, 'frame')} x {plural(result.config.repeat, 'repeat')}, "
            f"budget {budget_ms:.1f} ms"
        )
        figure.savefig(Path(path), dpi=80)
    finally:
        plt.close(figure)  # also when saving fails (a full disk): pyplot keeps figures alive


def _overhead_bars(axis: Any, rows: list[ResultRow], sink: str, budget_ms: float) -> None:
    ok = [row for row in rows if row.sink == sink and row.ran]
    modes = [m for m in dict.fromkeys(row.mode for row in ok) if m != BASELINE_MODE]
    rates = sorted({row.log_every for row in ok})
    width = 0.8 / max(1, len(modes))
    for index, mode in enumerate(modes):
        values = []
        for rate in rates:
            match = [r for r in ok if r.mode == mode and r.log_every == rate]
            values.append((match[0].overhead_us_per_frame or 0.0) if match else 0.0)
        shift = (index - (len(modes) - 1) / 2) * width
        positions = [position + shift for position in range(len(rates))]
        bars = axis.bar(positions, values, width=width, label=mode)
        axis.bar_label(bars, labels=[_short(value) for value in values], fontsize="x-small")
    axis.axhline(budget_ms * 10, color="red", linestyle="--", linewidth=1, label="1 % of budget")
    axis.set_yscale("symlog", linthresh=1.0)
    peak = max((abs(row.overhead_us_per_frame or 0.0) for row in ok), default=1.0)
    axis.set_ylim(top=max(peak, budget_ms * 10) * 30)  # headroom for the labels and legend
    axis.set_xticks(range(len(rates)), [f"every {rate}" for rate in rates])
    axis.set_ylabel("overhead per frame (µs, vs none)")
    axis.set_title(f"sink {sink}")
    axis.legend(fontsize="small", ncols=3, loc="upper center")


def _short(value_us: float) -> str:
    return f"{value_us / 1000:.1f} ms" if abs(value_us) >= 1000 else f"{value_us:.0f} µs"


def _frame_boxes(axis: Any, result: BenchResult, sink: str, budget_ms: float) -> None:
    cells = [cell for cell in result.cells if cell.sink == sink and cell.runs]
    if not cells:
        return
    rate = min(cell.log_every for cell in cells)
    chosen = [cell for cell in cells if cell.log_every == rate]
    samples = [[ns / NS_PER_MS for run in cell.runs for ns in run.frame_ns] for cell in chosen]
    axis.boxplot(samples, whis=(1, 99), sym=".")
    axis.set_xticks(range(1, len(chosen) + 1), [cell.mode for cell in chosen])
    axis.axhline(budget_ms, color="red", linestyle="--", linewidth=1, label="budget")
    axis.set_yscale("log")  # keeps the boxes readable with the budget line far above them
    axis.set_ylabel("frame time (ms, log scale)")
    axis.set_title(f"sink {sink}, log every {rate}: frame times (whiskers p1-p99)")
    axis.legend(fontsize="small")
