"""Turn the rows into the JSON report, a terminal table and one verdict line per sink."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

from framepipe._text import plural
from framepipe.bench.rows import BASELINE_MODE, ResultRow, result_rows
from framepipe.bench.runner import BenchResult
from framepipe.bench.stats import NS_PER_US

__all__ = [
    "baseline_spread_us",
    "format_report",
    "format_table",
    "machine_info",
    "to_json_dict",
    "verdicts",
    "write_json",
]


def machine_info() -> dict[str, Any]:
    """CPU count, Python, OpenCV and platform of this machine."""
    import cv2

    return {
        "cpus": os.cpu_count() or 0,
        "python": platform.python_version(),
        "opencv": str(cv2.__version__),
        "platform": platform.platform(),
    }


def to_json_dict(result: BenchResult, machine: dict[str, Any] | None = None) -> dict[str, Any]:
    """The report with exactly the documented top-level keys."""
    return {
        "machine": machine if machine is not None else machine_info(),
        "budget_ms": float(result.config.budget_ms),
        "frames": result.config.frames,
        "repeat": result.config.repeat,
        "results": [row.to_dict() for row in result_rows(result)],
    }


def write_json(report: dict[str, Any], path: Path) -> None:
    Path(path).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


def _num(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


_COLUMNS = (
    ("sink", "<"),
    ("every", ">"),
    ("mode", "<"),
    ("mean ms", ">"),
    ("p50 ms", ">"),
    ("p99 ms", ">"),
    ("max ms", ">"),
    ("overhead us", ">"),
    ("% budget", ">"),
    ("misses", ">"),
    ("fps", ">"),
    ("call p50 us", ">"),
    ("call p99 us", ">"),
    ("call max us", ">"),
    ("written", ">"),
    ("dropped", ">"),
)


def format_table(rows: list[ResultRow]) -> str:
    """A fixed-width text table, one line per row; skipped modes say so."""
    lines: list[list[str]] = []
    for row in rows:
        if not row.ran:
            lines.append([row.sink, str(row.log_every), row.mode, "skipped"])
            continue
        frame, call = row.frame_ms, row.call_us
        lines.append(
            [
                row.sink,
                str(row.log_every),
                row.mode,
                _num(frame.mean, 2),
                _num(frame.p50, 2),
                _num(frame.p99, 2),
                _num(frame.max, 2),
                _num(row.overhead_us_per_frame, 1),
                _num(row.overhead_pct_budget, 2),
                str(row.budget_misses),
                _num(row.fps, 1),
                _num(call.p50, 1),
                _num(call.p99, 1),
                _num(call.max, 1),
                str(row.written),
                str(row.dropped),
            ]
        )
    headers = [name for name, _ in _COLUMNS]
    widths = [len(name) for name in headers]
    for line in lines:
        # a skipped row's last cell ("skipped") stands in for the numeric columns
        measured = line if len(line) == len(headers) else line[:-1]
        for index, text in enumerate(measured):
            widths[index] = max(widths[index], len(text))

    def render(cells: list[str]) -> str:
        parts = []
        for index, text in enumerate(cells):
            align = _COLUMNS[index][1]
            parts.append(f"{text:{align}{widths[index]}}")
        return "  ".join(parts).rstrip()

    out = [render(headers), "  ".join("-" * width for width in widths)]
    for line in lines:
        out.append(render(line))
    return "\n".join(out)


def verdicts(rows: list[ResultRow], budget_ms: float) -> list[str]:
    """One line per sink: which modes keep the budget, and the cheapest and costliest logging.

    A mode keeps the budget when, at every log rate, it misses no more frames than ``none`` (the
    workload's own misses are not the logger's fault).
    """
    lines = []
    for sink in dict.fromkeys(row.sink for row in rows):
        ok = [row for row in rows if row.sink == sink and row.ran]
        baseline_misses = {
            row.log_every: row.budget_misses or 0 for row in ok if row.mode == BASELINE_MODE
        }
        logging_rows = [row for row in ok if row.mode != BASELINE_MODE]
        if not logging_rows:
            lines.append(f"{sink}: no logging mode ran")
            continue
        modes = list(dict.fromkeys(row.mode for row in logging_rows))
        keeps = [
            mode
            for mode in modes
            if all(
                (row.budget_misses or 0) <= baseline_misses.get(row.log_every, 0)
                for row in logging_rows
                if row.mode == mode
            )
        ]
        worst = {
            mode: max(
                (row for row in logging_rows if row.mode == mode),
                key=lambda row: row.overhead_us_per_frame or 0.0,
            )
            for mode in modes
        }
        cheapest = min(modes, key=lambda mode: worst[mode].overhead_us_per_frame or 0.0)
        costliest = max(modes, key=lambda mode: worst[mode].overhead_us_per_frame or 0.0)
        kept = ", ".join(keeps) if keeps else "none of the logging modes"
        lines.append(
            f"{sink}: keeping the {budget_ms:.1f} ms budget: {kept}; "
            f"cheapest {_describe(worst[cheapest])}, costliest {_describe(worst[costliest])}"
        )
    return lines


def _describe(row: ResultRow) -> str:
    overhead = row.overhead_us_per_frame or 0.0
    amount = f"{overhead / 1000:+.2f} ms" if abs(overhead) >= 1000 else f"{overhead:+.1f} us"
    return (
        f"{row.mode} ({amount}/frame = {row.overhead_pct_budget or 0.0:.2f} % of the budget"
        f" at log-every {row.log_every})"
    )


def baseline_spread_us(result: BenchResult) -> float | None:
    """Largest spread (max - min) of ``none``'s per-run mean frame time, in µs.

    The same loop without logging varies this much from run to run, so overhead differences
    smaller than this are noise. None when no cell of ``none`` has two runs.
    """
    spreads = []
    for cell in result.cells:
        if cell.mode != BASELINE_MODE or len(cell.runs) < 2:
            continue
        means = [sum(run.frame_ns) / len(run.frame_ns) for run in cell.runs]
        spreads.append((max(means) - min(means)) / NS_PER_US)
    return max(spreads) if spreads else None


def format_report(result: BenchResult, rows: list[ResultRow], machine: dict[str, Any]) -> str:
    """What the terminal shows: a header, the table, the modes, the verdicts and the noise."""
    config = result.config
    height, width = result.frame_shape[:2]
    lines = [
        f"framepipe bench: {result.processor} on {result.source} ({width}x{height}), "
        f"{plural(config.frames, 'frame')} x {plural(config.repeat, 'repeat')}, "
        f"budget {config.budget_ms:.1f} ms; "
        f"{machine['cpus']} CPUs, Python {machine['python']}, OpenCV {machine['opencv']}",
        format_table(rows),
        "",
    ]
    ran = {cell.mode for cell in result.cells if cell.status == "ok"}
    for name, note in result.mode_notes.items():
        lines.append(f"  {name}: {'' if name in ran else 'skipped: '}{note}")
    lines.append("")
    lines.extend(f"verdict {line}" for line in verdicts(rows, config.budget_ms))
    spread = baseline_spread_us(result)
    if spread is not None:
        lines.append(
            f"noise: without logging, the mean frame time varied by up to {spread:.1f} us "
            "between repeats; smaller overhead differences are within noise"
        )
    undrained = sum(cell.undrained_runs for cell in result.cells)
    if undrained:
        lines.append(
            f"note: {plural(undrained, 'run')} still had queued records when the drain timed out"
        )
    return "\n".join(lines)
