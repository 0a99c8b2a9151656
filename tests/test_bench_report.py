"""Tests for framepipe.bench.report: the JSON report, the table, the verdicts and the noise."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench_helpers import JSON_ROW_KEYS, slow_sink_result, timed_run
from framepipe.bench.report import (
    baseline_spread_us,
    format_report,
    format_table,
    machine_info,
    to_json_dict,
    verdicts,
    write_json,
)
from framepipe.bench.rows import result_rows

TOP_KEYS = {"machine", "budget_ms", "frames", "repeat", "results"}
MACHINE = {"cpus": 2, "python": "3.11.0", "opencv": "5.0.0", "platform": "Linux"}


def test_json_has_exactly_the_documented_keys() -> None:
    """Top level, each result and the nested summaries use the documented key names, no others."""
    report = to_json_dict(slow_sink_result(), MACHINE)
    assert set(report) == TOP_KEYS
    assert set(report["machine"]) == {"cpus", "python", "opencv", "platform"}
    for row in report["results"]:
        assert tuple(row) == JSON_ROW_KEYS
        assert set(row["frame_ms"]) == {"mean", "p50", "p99", "max"}
        assert set(row["call_us"]) == {"p50", "p99", "max"}
    assert (report["budget_ms"], report["frames"], report["repeat"]) == (
        pytest.approx(1000 / 30),
        4,
        2,
    )


def test_json_rows_hold_the_measured_values() -> None:
    """The JSON rows carry the rows' numbers, nulls for the skipped mode."""
    results = {row["mode"]: row for row in to_json_dict(slow_sink_result(), MACHINE)["results"]}
    sync = results["sync"]
    assert sync["frame_ms"] == {
        "mean": pytest.approx(18.25),
        "p50": pytest.approx(15.0),
        "p99": pytest.approx(41 - 26 * 0.07),  # rank 6.93 of 15 x7, 41
        "max": pytest.approx(41.0),
    }
    assert (sync["overhead_us_per_frame"], sync["budget_misses"]) == (pytest.approx(8250.0), 1)
    assert results["loguru"] == {
        "sink": "slow:5",
        "log_every": 1,
        "mode": "loguru",
        "status": "skipped",
        "frame_ms": {"mean": None, "p50": None, "p99": None, "max": None},
        "overhead_us_per_frame": None,
        "overhead_pct_budget": None,
        "budget_misses": None,
        "fps": None,
        "call_us": {"p50": None, "p99": None, "max": None},
        "written": 0,
        "dropped": 0,
    }


def test_written_json_parses_back_to_the_report(tmp_path: Path) -> None:
    """The file on disk is valid JSON (nulls included) equal to the in-memory report."""
    report = to_json_dict(slow_sink_result(), MACHINE)
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
    lines = format_table(result_rows(slow_sink_result())).splitlines()
    assert lines[0].split()[:3] == ["sink", "every", "mode"]
    assert len(lines) == 2 + 4
    assert lines[-1].split() == ["slow:5", "1", "loguru", "skipped"]
    sync = lines[3].split()
    assert sync[:4] == ["slow:5", "1", "sync", "18.25"]
    assert sync[7] == "8250.0"


def test_verdict_names_the_modes_that_keep_the_budget_and_the_extremes() -> None:
    """sync misses a frame the baseline does not, so only async keeps the budget."""
    (line,) = verdicts(result_rows(slow_sink_result()), 1000 / 30)
    assert line.startswith("slow:5: keeping the 33.3 ms budget: async;")
    assert "cheapest async (+10.0 us/frame" in line
    assert "costliest sync (+8.25 ms/frame = 24.75 % of the budget at log-every 1)" in line


def test_baseline_spread_is_the_range_of_none_run_means() -> None:
    """none ran 10 ms and 10.3 ms per frame on average: 300 µs of run-to-run noise."""
    result = slow_sink_result()
    result.cells[0].runs = [timed_run([10, 10, 10, 10], []), timed_run([10.3] * 4, [])]
    assert baseline_spread_us(result) == pytest.approx(300.0)


def test_baseline_spread_needs_two_runs() -> None:
    """With a single repeat nothing can be said about noise."""
    result = slow_sink_result()
    result.cells[0].runs = result.cells[0].runs[:1]
    assert baseline_spread_us(result) is None


def test_terminal_report_has_header_table_modes_verdicts_and_noise() -> None:
    """The text names the workload and machine, marks skipped modes, and flags undrained runs."""
    result = slow_sink_result()
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
    assert lines[-1] == "note: 1 run still had queued records when the drain timed out"


def test_terminal_report_says_one_frame_one_repeat_and_runs_in_the_plural() -> None:
    """One frame, one repeat: singular in the header; two undrained runs: plural in the note."""
    import dataclasses

    result = slow_sink_result()
    result = dataclasses.replace(
        result, config=dataclasses.replace(result.config, frames=1, repeat=1)
    )
    result.cells[2].undrained_runs = 2
    lines = format_report(result, result_rows(result), MACHINE).splitlines()
    assert lines[0].startswith("framepipe bench: edges on synthetic (64x48), 1 frame x 1 repeat, ")
    assert lines[-1] == "note: 2 runs still had queued records when the drain timed out"
