"""Tests for framepipe.streams.report: the per-stream results, the totals and the table."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from framepipe.pipeline.report import SUMMARY_KEYS
from framepipe.pipeline.status import RunStatus
from framepipe.streams.report import Attempt, StreamResult, StreamsReport, summary_from_snapshot


def summary(frames: int, fps: float, misses: int = 0, dropped: int = 0) -> dict[str, Any]:
    values: dict[str, Any] = {key: 0 for key in SUMMARY_KEYS}
    values.update(
        frames_processed=frames, fps=fps, budget_misses=misses, frames_dropped=dropped,
        frame_ms={"p99": 4.5}, frame_age_ms={"p99": 9.25}, log={},
    )  # fmt: skip
    return values


def result(name: str, **overrides: Any) -> StreamResult:
    values: dict[str, Any] = dict(
        stream=name, summary=summary(100, 50.0), pid=10, exit=0, error=None, ended="end",
        cv_threads=1,
    )  # fmt: skip
    values.update(overrides)
    return StreamResult(**values)


def test_the_total_adds_up_frames_rates_misses_and_drops_including_restarts() -> None:
    """Frames of a run that was restarted count too; fps is the sum of the streams' rates."""
    first = result("a", summary=summary(100, 50.0, misses=2, dropped=1))
    second = result("b", summary=summary(40, 20.5, misses=3), restarts=(Attempt(11, -9, "x", 7),))
    total = StreamsReport((first, second), duration_s=2.5, cv_threads=1).total
    assert total == {
        "frames_processed": 147, "fps": 70.5, "budget_misses": 5, "frames_dropped": 1,
        "duration_s": 2.5, "streams": 2, "failed": 0, "cv_threads": 1,
    }  # fmt: skip


def test_the_json_is_strict_even_with_numbers_that_are_not_finite() -> None:
    """A NaN or an infinity anywhere becomes null, so strict readers accept the document."""
    bad = result("a", summary=summary(0, float("nan")))
    document = StreamsReport((bad,), 1.0, 1, log={"written": float("inf")}).to_dict()
    json.dumps(document, allow_nan=False)
    assert document["streams"][0]["fps"] is None and document["log"]["written"] is None


def test_a_failed_stream_is_not_ok_and_its_error_is_under_the_table() -> None:
    """The table has a row per stream and a total; each failure and restart gets a line."""
    crashed = result(
        "cam1", exit=-9, error="killed by SIGKILL", ended="crashed",
        restarts=(Attempt(12, -9, "killed by SIGKILL", 3),),
    )  # fmt: skip
    report = StreamsReport((result("cam0"), crashed), 3.0, 2)
    assert not report.ok and report.total["failed"] == 1
    lines = report.to_text().splitlines()
    assert lines[0].split() == ["stream", "pid", "exit", "ended", "frames", "dropped", "FPS",
                                "misses", "p99", "ms", "age", "p99", "ms"]  # fmt: skip
    assert lines[1].split() == ["cam0", "10", "0", "end", "100", "0", "50.0", "0", "4.50", "9.25"]
    assert lines[2].split()[:5] == ["cam1", "10", "-9", "crashed", "103"]
    assert lines[3].split()[:2] == ["total", "203"]
    assert "cam1: pid 12 killed by SIGKILL, restarted" in lines
    assert "cam1: killed by SIGKILL" in lines


def test_a_summary_from_a_snapshot_has_every_summary_key() -> None:
    """A worker that died: its last snapshot fills what it tells, the rest is null."""
    snapshot = dataclasses.replace(
        RunStatus("door.mp4", 33.3).snapshot(0.0), frames_processed=30, elapsed_s=2.0
    )
    values = summary_from_snapshot(snapshot, "door.mp4", "edges")
    assert list(values) == list(SUMMARY_KEYS)
    assert values["fps"] == 15.0 and values["processor"] == "edges"
    assert values["frame_ms"]["mean"] is None and values["longest_miss_streak"] is None
    assert summary_from_snapshot(None, "cam0", "none")["frames_processed"] == 0
