"""Tests for framepipe.pipeline.report: the summary JSON keys and the human summary."""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import pickle

import pytest

from framepipe.pipeline.live import PipelineSnapshot
from framepipe.pipeline.report import SUMMARY_KEYS, PipelineReport
from framepipe.pipeline.sources import SourceInfo
from framepipe.pipeline.stats import FrameSummary
from framepipe.pipeline.status import RunStatus

# The documented interface, spelled out here so a rename in the code fails this test.
DOCUMENTED_KEYS = [
    "source", "processor", "frames_read", "frames_processed", "frames_dropped", "frames_failed",
    "reconnects", "disconnected_s", "duration_s",
    "fps", "budget_ms", "budget_misses", "budget_miss_pct", "longest_miss_streak", "frame_ms",
    "frame_age_ms", "percentiles_estimated", "results_written", "results_dropped",
    "results_errors", "workers", "worker_busy", "log",
]  # fmt: skip


SUMMARY_FIELDS = {f.name for f in dataclasses.fields(FrameSummary)}


# What make_report() runs with unless told otherwise: the FrameSummary's figures, and the rest.
FIGURES: dict[str, object] = {
    "frames_processed": 100,
    "frames_dropped": 0,
    "duration_s": 2.5,
    "fps": 40.0,
    "budget_ms": 33.3,
    "budget_misses": 3,
    "budget_miss_pct": 3.0,
    "longest_miss_streak": 2,
    "frame_ms": {"mean": 10.0, "p50": 9.0, "p95": 20.0, "p99": 40.0, "max": 50.0},
    "frame_age_ms": {"p50": 15.0, "p99": 45.0, "max": 60.0},
}
RUN: dict[str, object] = {
    "source": "clip.mp4",
    "processor": "edges",
    "frames_read": 100,
    "log": {"written": 7, "dropped": 0, "errors": 0, "mode": "async", "log_file": "logs/x.txt"},
}


def make_report(**overrides: object) -> PipelineReport:
    stats, values = copy.deepcopy(FIGURES), copy.deepcopy(RUN)  # a test may change its report
    values["source_info"] = SourceInfo("clip.mp4", "file", 30.0, 64, 48, 100, False)
    for key, value in overrides.items():
        (stats if key in SUMMARY_FIELDS else values)[key] = value
    return PipelineReport(frame_stats=FrameSummary(**stats), **values)  # type: ignore[arg-type]


class TestPipelineReport:
    def test_to_dict_has_exactly_the_documented_keys_in_order(self):
        """The summary JSON is an interface: these keys, no more, no fewer."""
        assert list(make_report().to_dict()) == DOCUMENTED_KEYS == list(SUMMARY_KEYS)

    def test_to_dict_is_json_serialisable_and_nested_as_documented(self):
        """Frame time and age are nested objects with their percentile keys."""
        data = json.loads(json.dumps(make_report().to_dict()))
        assert list(data["frame_ms"]) == ["mean", "p50", "p95", "p99", "max"]
        assert list(data["frame_age_ms"]) == ["p50", "p99", "max"]
        assert data["log"]["written"] == 7

    def test_to_dict_is_strict_json_even_with_non_finite_numbers(self):
        """An infinite budget or a NaN rate becomes null: the summary parses in any JSON reader."""
        report = make_report(budget_ms=float("inf"), fps=float("nan"))
        report.frame_ms["max"] = float("-inf")
        data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
        assert (data["budget_ms"], data["fps"], data["frame_ms"]["max"]) == (None, None, None)
        assert data["frame_ms"]["p99"] == 40.0

    def test_the_summary_fields_read_as_the_report_s_own(self):
        """report.fps, report.frame_ms ... are the FrameSummary's values, typed."""
        report = make_report()
        for name in SUMMARY_FIELDS:
            assert getattr(report, name) == getattr(report.frame_stats, name)

    def test_to_dict_values_are_exactly_the_documented_ones(self):
        """Holding a FrameSummary changes nothing in the JSON: the values the report was given,
        as given, and zero for the counts it was not."""
        not_given = {
            "frames_failed": 0, "reconnects": 0, "disconnected_s": 0.0,
            "percentiles_estimated": False, "results_written": 0, "results_dropped": 0,
            "results_errors": 0, "workers": 1, "worker_busy": [],
        }  # fmt: skip
        assert make_report().to_dict() == {**RUN, **FIGURES, **not_given}

    def test_to_dict_returns_copies(self):
        """Changing the returned dict does not change the report."""
        report = make_report()
        report.to_dict()["frame_ms"]["max"] = -1.0
        assert report.frame_ms["max"] == 50.0

    @pytest.mark.parametrize(
        ("frames_read", "end_reason", "cut_off", "truncated"),
        [
            (100, "end", False, False),  # every frame decoded
            (60, "end", False, False),  # short of an estimated count, but the file is whole
            (60, "end", True, True),  # the file is cut off and ran out by itself
            (60, "max_frames", True, False),  # stopped on purpose
            (60, "stopped", True, False),  # Ctrl-C
        ],
    )
    def test_truncated_when_a_cut_off_file_runs_out(
        self, frames_read: int, end_reason: str, cut_off: bool, truncated: bool
    ):
        """Only a file shorter than its container declares, run to its end, is truncated; the
        frame count (often an estimate) decides nothing."""
        info = SourceInfo("clip.mkv", "file", 30.0, 64, 48, 100, False, cut_off=cut_off)
        report = make_report(frames_read=frames_read, end_reason=end_reason, source_info=info)
        assert report.truncated is truncated

    def test_live_sources_are_never_truncated(self):
        """Streams have no frame count to fall short of."""
        info = SourceInfo("tcp://x", "stream", 25.0, 64, 48, None, True)
        assert not make_report(frames_read=3, source_info=info).truncated

    def test_a_named_stream_leads_the_json_and_the_text(self):
        """A run given a name (--name) says it first in the JSON, as a stream of several does,
        and in the text; an unnamed run has no such key."""
        named = make_report(stream="door")
        assert list(named.to_dict()) == ["stream", *DOCUMENTED_KEYS]
        assert named.to_dict()["stream"] == "door"
        assert named.to_text().splitlines()[0] == "stream      door"
        assert "stream" not in make_report().to_dict()
        assert "stream " not in make_report().to_text()

    def test_worker_busy_not_known_is_null_and_said_so(self):
        """A run with several workers killed before its report: how busy they were is not
        known, which the JSON says with null (not an empty list) and the text in words."""
        report = make_report(workers=2, worker_busy=None)
        assert report.to_dict()["worker_busy"] is None and report.to_dict()["workers"] == 2
        assert "workers     2, busy unknown" in report.to_text()

    def test_text_summary_shows_the_key_figures(self):
        """The human summary names frames, misses, percentiles and the log file."""
        text = make_report(output="out.mp4", frames_written=100).to_text()
        assert "100 processed of 100 read, 0 dropped" in text
        assert "33.3 ms: 3 missed (3.0 %), longest streak 2" in text
        assert "p99 40.00" in text
        assert "logs/x.txt" in text
        assert "100 frames -> out.mp4" in text

    def test_text_summary_shows_log_errors_beside_written_and_dropped(self):
        """Records the sinks failed to write are part of the log line, not only of the JSON."""
        log = {"written": 57, "dropped": 2, "errors": 3, "mode": "async", "log_file": "l.txt"}
        text = make_report(log=log).to_text()
        assert "log         57 records written, 2 dropped, 3 errors (async) -> l.txt" in text

    def test_text_summary_shows_a_failed_frame(self):
        """The frame the processor failed on is counted, so the frame counts add up."""
        text = make_report(frames_read=10, frames_processed=6, frames_dropped=3, frames_failed=1)
        assert "6 processed of 10 read, 3 dropped, 1 failed" in text.to_text()

    def test_text_summary_shows_reconnects_of_a_live_source(self):
        """A live source that dropped says how often and for how long, so nothing is hidden."""
        text = make_report(reconnects=2, disconnected_s=4.25).to_text()
        assert "reconnects  2, 4.2 s without a connection" in text
        assert "reconnects" not in make_report().to_text()

    def test_text_summary_says_one_of_a_kind_in_the_singular(self):
        """One frame written, one record, one error: no "1 frames" in the summary."""
        log = {"written": 1, "dropped": 0, "errors": 1, "mode": "async", "log_file": "l.txt"}
        text = make_report(log=log, output="out.mp4", frames_written=1).to_text()
        assert "log         1 record written, 0 dropped, 1 error (async) -> l.txt" in text
        assert "output      1 frame -> out.mp4" in text

    def test_a_truncation_of_a_one_frame_file_says_frame(self):
        info = SourceInfo("clip.mkv", "file", 30.0, 64, 48, 1, False, cut_off=True)
        report = make_report(frames_read=0, end_reason="end", source_info=info)
        assert report.truncation_error == (
            "truncated video: clip.mp4 ended after 0 of 1 frame (processed what decoded)"
        )


def last_snapshot(**overrides: object) -> PipelineSnapshot:
    """What a worker sent last before it died: 30 frames in about 2 s, a live source."""
    values: dict[str, object] = dict(
        source="door.mp4", budget_ms=1000 / 30, frames_read=33, frames_processed=30,
        frames_dropped=2, frames_failed=1, budget_misses=3, reconnects=1, elapsed_s=2.0004,
        frame_ms={"p50": 4.25, "p99": 9.5, "max": 12.0}, frame_age_ms={"p50": 6.5, "p99": 20.125},
        disconnected_s=0.75,
    )  # fmt: skip
    values.update(overrides)
    return dataclasses.replace(RunStatus("door.mp4").snapshot(0.0), **values)  # type: ignore[arg-type]


class TestFromSnapshot:
    """A run that ended without its report (its worker was killed): the report its last
    snapshot tells, with null for what a snapshot does not know."""

    def test_the_json_has_every_key_and_null_where_the_snapshot_does_not_tell(self):
        """The rate and the miss percentage are worked out as for a finished run."""
        report = PipelineReport.from_snapshot(last_snapshot(), source="cam", processor="edges")
        assert report.to_dict() == {
            "source": "door.mp4",  # the open source's name, as the run called it
            "processor": "edges",
            "frames_read": 33,
            "frames_processed": 30,
            "frames_dropped": 2,
            "frames_failed": 1,
            "reconnects": 1,
            "disconnected_s": None,
            "duration_s": 2.0,
            "fps": 15.0,
            "budget_ms": 33.333333333333336,
            "budget_misses": 3,
            "budget_miss_pct": 10.0,
            "longest_miss_streak": None,
            "frame_ms": {"mean": None, "p50": 4.25, "p95": None, "p99": 9.5, "max": 12.0},
            "frame_age_ms": {"p50": 6.5, "p99": 20.125, "max": None},
            "percentiles_estimated": True,  # the last 300 frames, not the run
            "results_written": 0,
            "results_dropped": 0,
            "results_errors": 0,
            "workers": 1,
            "worker_busy": [],
            "log": {},
        }
        assert list(report.to_dict()) == list(SUMMARY_KEYS)

    def test_without_a_snapshot_only_the_names_are_known(self):
        """A worker that died before its first snapshot: zero counts, no times, no budget."""
        report = PipelineReport.from_snapshot(None, source="cam0", processor="none")
        values = report.to_dict()
        assert (values["source"], values["processor"]) == ("cam0", "none")
        assert values["frames_processed"] == values["frames_read"] == 0
        assert (values["fps"], values["duration_s"], values["budget_ms"]) == (0.0, 0.0, None)
        assert set(values["frame_ms"].values()) == set(values["frame_age_ms"].values()) == {None}

    def test_a_snapshot_without_a_source_name_or_a_budget_keeps_the_given_name(self):
        """Before its source opened a run has no name of its own and may have no budget."""
        snapshot = last_snapshot(source="", budget_ms=0.0, elapsed_s=0.0)
        values = PipelineReport.from_snapshot(snapshot, source="cam0", processor="none").to_dict()
        assert values["source"] == "cam0" and values["budget_ms"] is None
        assert values["fps"] == 0.0 and values["budget_miss_pct"] == 10.0

    def test_the_figures_a_snapshot_does_not_know_are_typed_as_unknown(self):
        """An unknown time is NaN (null in JSON), the unknown streak None; the report ended in
        an error and pickles like any report."""
        report = PipelineReport.from_snapshot(last_snapshot(), source="cam", processor="edges")
        assert math.isnan(report.frame_ms["mean"]) and math.isnan(report.frame_age_ms["max"])
        assert report.longest_miss_streak is None and report.end_reason == "error"
        assert pickle.loads(pickle.dumps(report)).to_dict() == report.to_dict()
