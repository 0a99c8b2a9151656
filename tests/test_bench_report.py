"""Tests for framepipe.bench.report: JSON keys, overhead against ``none``, table and verdicts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from framepipe.bench.loop import RunTimings
from framepipe.bench.report import (
    baseline_spread_us,
    format_report,
    format_table,
    machine_info,
    result_rows,
    to_json_dict,
    verdicts,
    write_json,
)
from framepipe.bench.runner import BenchConfig, BenchResult, CellResult
from framepipe.bench.sinks import parse_sink

MS = 1_000_000

TOP_KEYS = {"machine", "budget_ms", "frames", "repeat", "results"}
ROW_KEYS = {
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
}


def _run(frame_ms: list[float], call_us: list[float]) -> RunTimings:
    frame_ns = [int(ms * MS) for ms in frame_ms]
    return RunTimings(
        frame_ns=frame_ns, call_ns=[int(us * 1000) for us in call_us], wall_ns=sum(frame_ns)
    )


def _result() -> BenchResult:
    """slow:5 at log-every 1: none 10 ms/frame, sync 15 ms (one 41 ms), async 10.01; no loguru."""
    config = BenchConfig(frames=4, repeat=2, log_every=(1,), sinks=(parse_sink("slow:5"),))
    cells = [
        CellResult("slow:5", 1, "none", "ok", runs=[_run([10, 10, 10, 10], [])] * 2),
        CellResult(
            "slow:5",
            1,
            "sync",
            "ok",
            runs=[_run([15, 15, 15, 41], [5000] * 4), _run([15, 15, 15, 15], [5000] * 4)],
            written=8,
        ),
        CellResult(
            "slow:5",
            1,
            "async",
            "ok",
            runs=[_run([10.01] * 4, [2, 3, 4, 5])] * 2,
            written=7,
            dropped=1,
        ),
        CellResult("slow:5", 1, "loguru", "skipped", note="loguru is not importable"),
    ]
    return BenchResult(config, cells, {}, "synthetic", "edges", (48, 64, 3))


MACHINE = {"cpus": 2, "python": "3.11.0", "opencv": "5.0.0", "platform": "Linux"}


def test_json_has_exactly_the_documented_keys() -> None:
    """Top level, each result and the nested summaries use the issue's key names, no others."""
    report = to_json_dict(_result(), MACHINE)
    assert set(report) == TOP_KEYS
    assert set(report["machine"]) == {"cpus", "python", "opencv", "platform"}
    for row in report["results"]:
        assert set(row) == ROW_KEYS
        assert set(row["frame_ms"]) == {"mean", "p50", "p99", "max"}
        assert set(row["call_us"]) == {"p50", "p99", "max"}
    assert (report["budget_ms"], report["frames"], report["repeat"]) == (
        pytest.approx(1000 / 30),
        4,
        2,
    )


def test_overhead_is_the_mean_frame_time_minus_the_baselines() -> None:
    """sync: mean 18.25 ms - 10 ms = 8250 µs per frame, 24.75 % of a 33.3 ms budget."""
    rows = {row["mode"]: row for row in result_rows(_result())}
    assert rows["none"]["overhead_us_per_frame"] == pytest.approx(0.0)
    assert rows["sync"]["frame_ms"]["mean"] == pytest.approx(18.25)
    assert rows["sync"]["overhead_us_per_frame"] == pytest.approx(8250.0)
    assert rows["sync"]["overhead_pct_budget"] == pytest.approx(24.75)
    assert rows["async"]["overhead_us_per_frame"] == pytest.approx(10.0, abs=1e-6)


def test_misses_fps_calls_and_counts_are_reported() -> None:
    """The 41 ms frame is the only miss; fps is frames over wall time; counts pass through."""
    rows = {row["mode"]: row for row in result_rows(_result())}
    assert rows["sync"]["budget_misses"] == 1
    assert rows["none"]["budget_misses"] == 0
    assert rows["none"]["fps"] == pytest.approx(100.0)
    assert rows["async"]["call_us"] == {
        "p50": pytest.approx(3.5),
        "p99": pytest.approx(5.0),  # pooled over both runs: 2 2 3 3 4 4 5 5
        "max": pytest.approx(5.0),
    }
    assert rows["none"]["call_us"] == {"p50": None, "p99": None, "max": None}
    assert (rows["async"]["written"], rows["async"]["dropped"]) == (7, 1)


def test_skipped_modes_keep_the_keys_with_empty_values() -> None:
    """A skipped mode is listed, with status "skipped" and null measurements."""
    row = next(row for row in result_rows(_result()) if row["mode"] == "loguru")
    assert row["status"] == "skipped"
    assert row["frame_ms"] == {"mean": None, "p50": None, "p99": None, "max": None}
    assert row["overhead_us_per_frame"] is None
    assert (row["written"], row["dropped"]) == (0, 0)


def test_written_json_parses_back_to_the_report(tmp_path: Path) -> None:
    """The file on disk is valid JSON (nulls included) equal to the in-memory report."""
    report = to_json_dict(_result(), MACHINE)
    path = tmp_path / "r.json"
    write_json(report, path)
    assert json.loads(path.read_text(encoding="utf-8")) == report


def test_machine_info_describes_this_machine() -> None:
    """CPU count, Python and OpenCV versions come from the running interpreter."""
    import platform

    import cv2

    info = machine_info()
    assert info["cpus"] >= 1
    assert info["python"] == platform.python_version()
    assert info["opencv"] == cv2.__version__


def test_table_has_a_line_per_row_and_marks_skipped_modes() -> None:
    """Header, rule, then one line per cell; the skipped mode says so."""
    lines = format_table(result_rows(_result())).splitlines()
    assert lines[0].split()[:3] == ["sink", "every", "mode"]
    assert len(lines) == 2 + 4
    assert lines[-1].split() == ["slow:5", "1", "loguru", "skipped"]
    sync = lines[3].split()
    assert sync[:4] == ["slow:5", "1", "sync", "18.25"]
    assert sync[7] == "8250.0"


def test_verdict_names_the_modes_that_keep_the_budget_and_the_extremes() -> None:
    """sync misses a frame the baseline does not, so only async keeps the budget."""
    (line,) = verdicts(result_rows(_result()), 1000 / 30)
    assert line.startswith("slow:5: keeping the 33.3 ms budget: async;")
    assert "cheapest async (+10.0 us/frame" in line
    assert "costliest sync (+8.25 ms/frame = 24.75 % of the budget at log-every 1)" in line


def test_baseline_spread_is_the_range_of_none_run_means() -> None:
    """none ran 10 ms and 10.3 ms per frame on average: 300 µs of run-to-run noise."""
    result = _result()
    result.cells[0].runs = [_run([10, 10, 10, 10], []), _run([10.3] * 4, [])]
    assert baseline_spread_us(result) == pytest.approx(300.0)


def test_baseline_spread_needs_two_runs() -> None:
    """With a single repeat nothing can be said about noise."""
    result = _result()
    result.cells[0].runs = result.cells[0].runs[:1]
    assert baseline_spread_us(result) is None


def test_terminal_report_has_header_table_modes_verdicts_and_noise() -> None:
    """The text names the workload and machine, marks skipped modes, and flags undrained runs."""
    result = _result()
    result.mode_notes.update({"none": "no logging", "loguru": "loguru is not importable"})
    result.cells[2].undrained_runs = 1
    text = format_report(result, result_rows(result), MACHINE)
    lines = text.splitlines()
    assert lines[0] == (
        "framepipe bench: edges on synthetic (64x48), 4 frames x 2 repeats, budget 33.3 ms; "
        "2 CPUs, Python 3.11.0, OpenCV 5.0.0"
    )
    assert "  none: no logging" in lines
    assert "  loguru: skipped: loguru is not importable" in lines
    assert any(line.startswith("verdict slow:5: ") for line in lines)
    assert "noise: without logging, the mean frame time varied by up to 0.0 us" in text
    assert lines[-1] == "note: 1 run(s) still had queued records when the drain timed out"
