"""Tests for framepipe.streams.report: the per-stream results, the totals and the table."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from framepipe.pipeline.report import PipelineReport
from framepipe.pipeline.stats import FrameSummary
from framepipe.pipeline.status import RunStatus
from framepipe.streams.report import Attempt, StreamResult, StreamsReport


def summary(frames: int, fps: float, misses: int = 0, dropped: int = 0) -> PipelineReport:
    stats = FrameSummary(
        frames_processed=frames, frames_dropped=dropped, duration_s=2.0, fps=fps, budget_ms=33.3,
        budget_misses=misses, budget_miss_pct=0.0, longest_miss_streak=1,
        frame_ms={"mean": 4.0, "p50": 3.5, "p95": 4.25, "p99": 4.5, "max": 6.0},
        frame_age_ms={"p50": 7.0, "p99": 9.25, "max": float("inf")},
    )  # fmt: skip
    return PipelineReport("a.mp4", "edges", frames + dropped, stats, {"written": 3})


def result(name: str, **overrides: Any) -> StreamResult:
    values: dict[str, Any] = dict(
        stream=name, summary=summary(100, 50.0), pid=10, exit=0, error=None, ended="end",
        cv_threads=1,
    )  # fmt: skip
    values.update(overrides)
    return StreamResult(**values)


def test_the_total_adds_up_frames_rates_misses_and_drops_of_the_streams_summaries() -> None:
    """A restarted stream's summary counts every attempt already (the supervisor adds them),
    so its frames count once, as in its row and its JSON; fps is the sum of the streams' rates."""
    first = result("a", summary=summary(100, 50.0, misses=2, dropped=1))
    second = result("b", summary=summary(47, 20.5, misses=3), restarts=(Attempt(11, -9, "x", 7),))
    report = StreamsReport((first, second), duration_s=2.5, cv_threads=1)
    total = report.total
    assert second.to_dict()["frames_processed"] == second.frames_processed == 47
    timings = {key: total.pop(key) for key in ("frame_ms", "frame_age_ms", "percentiles_estimated")}
    assert total == {
        "frames_processed": 147, "fps": 70.5, "budget_misses": 5, "frames_dropped": 1,
        "duration_s": 2.5, "streams": 2, "failed": 0, "cv_threads": 1,
    }  # fmt: skip
    # Summaries without sketches: no percentile over both is known, the larger max is.
    assert timings["frame_ms"]["max"] == 6.0 and timings["percentiles_estimated"]


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
    assert lines[2].split()[:5] == ["cam1", "10", "-9", "crashed", "100"]  # as its JSON
    assert lines[3].split()[:2] == ["total", "200"]
    assert "cam1: pid 12 killed by SIGKILL, restarted" in lines
    assert "cam1: killed by SIGKILL" in lines


def test_the_json_is_each_stream_s_report_then_how_its_worker_ended() -> None:
    """The summary JSON, exactly: a stream's entry is its report's summary keys, then pid,
    exit, error, ended, restarts, restart_count, cv_threads and node."""
    restarted = result("a", summary=summary(100, 50.0, misses=2, dropped=1),
                       restarts=(Attempt(9, -9, "killed by SIGKILL", 7),))  # fmt: skip
    document = StreamsReport((restarted,), 2.5, 1, log={"written": 5}).to_dict()
    assert json.dumps(document) == (
        '{"streams": [{"stream": "a", "source": "a.mp4", "processor": "edges", '
        '"frames_read": 101, "frames_processed": 100, "frames_dropped": 1, "frames_failed": 0, '
        '"reconnects": 0, "disconnected_s": 0.0, "duration_s": 2.0, "fps": 50.0, '
        '"budget_ms": 33.3, "budget_misses": 2, "budget_miss_pct": 0.0, '
        '"longest_miss_streak": 1, '
        '"frame_ms": {"mean": 4.0, "p50": 3.5, "p95": 4.25, "p99": 4.5, "max": 6.0}, '
        '"frame_age_ms": {"p50": 7.0, "p99": 9.25, "max": null}, '
        '"percentiles_estimated": false, "results_written": 0, "results_dropped": 0, '
        '"results_errors": 0, "workers": 1, "worker_busy": [], "log": {"written": 3}, '
        '"pid": 10, "exit": 0, "error": null, "ended": "end", "restarts": [{"pid": 9, '
        '"exit": -9, "error": "killed by SIGKILL", "frames_processed": 7}], "restart_count": 1, '
        '"cv_threads": 1, '
        '"node": null}], "total": {"frames_processed": 100, "fps": 50.0, "budget_misses": 2, '
        '"frames_dropped": 1, "duration_s": 2.5, "streams": 1, "failed": 0, "cv_threads": 1, '
        '"frame_ms": {"mean": 4.0, "p50": 3.5, "p95": 4.25, "p99": 4.5, "max": 6.0}, '
        '"frame_age_ms": {"p50": 7.0, "p99": 9.25, "max": null}, '
        '"percentiles_estimated": false}, '
        '"log": {"written": 5}}'
    )


def test_a_stream_known_only_from_its_last_snapshot_shows_dashes_for_unknown_times() -> None:
    """A worker killed before its first snapshot: zero frames, no times ("-" in the table,
    null in the JSON), and its total counts nothing it does not know."""
    unknown = PipelineReport.from_snapshot(None, source="cam0", processor="none")
    crashed = result("cam0", summary=unknown, exit=-9, error="killed", ended="crashed")
    report = StreamsReport((crashed,), 1.0, 1)
    assert report.to_text().splitlines()[1].split() == [
        "cam0", "10", "-9", "crashed", "0", "0", "0.0", "0", "-", "-"
    ]  # fmt: skip
    assert report.total["fps"] == 0.0
    assert report.to_dict()["streams"][0]["frame_ms"]["p99"] is None
    snapshot = dataclasses.replace(RunStatus("cam0", 33.3).snapshot(0.0), frames_processed=30)
    killed = result("cam0", summary=PipelineReport.from_snapshot(
        snapshot, source="cam0", processor="none"))  # fmt: skip
    assert killed.frames_processed == 30


def test_one_stream_one_record_and_one_error_are_singular() -> None:
    """The lines under the table say "1 stream", "1 record", "1 error", never "1 streams"."""
    log = {"written": 1, "dropped": 0, "errors": 1, "mode": "async", "log_file": "l.txt"}
    lines = StreamsReport((result("cam0"),), 1.5, 1, log=log).to_text().splitlines()
    assert "1 stream in 1.50 s, OpenCV threads per worker: 1" in lines
    assert "log: 1 record written, 0 dropped, 1 error (async) -> l.txt" in lines


def test_a_workers_records_are_not_called_written_when_the_parent_could_not_write() -> None:
    """Through the parent's channel a worker counts what the parent took as written; after the
    parent's writer failed (a full disk) its ``written`` is null and ``sent`` says what it
    sent. A parent that wrote everything leaves the counters as they are."""
    worker_log = {"written": 1802, "errors": 0, "channel": {"stream": "a", "connected": True}}
    stream = result("a", summary=dataclasses.replace(summary(100, 50.0), log=worker_log))
    full_disk = StreamsReport((stream,), 1.0, 1, log={"written": 0, "errors": 1841}).to_dict()
    assert full_disk["streams"][0]["log"] == {**worker_log, "written": None, "sent": 1802}
    fine = StreamsReport((stream,), 1.0, 1, log={"written": 1802, "errors": 0}).to_dict()
    assert fine["streams"][0]["log"] == worker_log
