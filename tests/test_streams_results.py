"""Several streams, one results file: the parent writes every stream's lines, each naming its
stream, and each stream's summary counts its own."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from pathlib import Path

import pytest

from framepipe.cli import main

SAMPLE = Path(__file__).resolve().parent.parent / "samples" / "sample.mp4"


def test_two_streams_write_one_file_each_line_naming_its_stream(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent))
    results, summary = tmp_path / "all.jsonl", tmp_path / "summary.json"
    code = main([
        "run", str(SAMPLE), "synthetic:96x64@30:2", "--name", "door", "--name", "scene",
        "--processor", "parallel_processors:jittery", "--results", str(results),
        "--summary-json", str(summary), "--quiet", "--log-dir", str(tmp_path / "logs"),
    ])  # fmt: skip
    assert code == 0
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    per_stream = Counter(line["stream"] for line in lines)
    report = json.loads(summary.read_text())
    for stream in report["streams"]:
        name = stream["stream"]
        assert stream["results_written"] == per_stream[name] == stream["frames_processed"]
        assert stream["results_dropped"] == stream["results_errors"] == 0
        frames = [line["frame"] for line in lines if line["stream"] == name]
        assert frames == sorted(frames)
    assert set(per_stream) == {"door", "scene"}


def test_a_results_path_in_a_missing_directory_is_a_usage_error_before_any_worker(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main([
        "run", "synthetic:32x32@30:1", "synthetic:32x32@30:1", "--quiet",
        "--results", str(tmp_path / "missing" / "r.jsonl"), "--log-dir", str(tmp_path / "logs"),
    ])  # fmt: skip
    assert code == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "logs").exists()


def test_an_unsafe_processor_with_workers_is_a_usage_error_with_several_streams(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main([
        "run", "synthetic:32x32@30:1", "synthetic:32x32@30:1", "--quiet", "--workers", "2",
        "--processor", "motion", "--log-dir", str(tmp_path / "logs"),
    ])  # fmt: skip
    assert code == 2
    assert "processor 'motion' is not safe to run in parallel" in capsys.readouterr().err


def test_a_restarted_stream_counts_the_results_of_every_attempt_once(tmp_path: Path) -> None:
    """The parent's file counts what it wrote; what the workers dropped or refused comes from
    the stream's summary, which already counts every attempt (a killed one as of its last
    snapshot): in the final counts once, and in a snapshot once, between attempts too."""
    from framepipe.pipeline.report import PipelineReport
    from framepipe.pipeline.status import RunStatus
    from framepipe.streams._messages import Results
    from framepipe.streams._results import ResultsRelay
    from framepipe.streams._totals import carried
    from framepipe.streams.report import StreamResult

    relay = ResultsRelay(tmp_path / "all.jsonl")
    for frame in range(4):
        relay.line("door", Results(frame, 0.0, {"n": frame}))
    base = RunStatus("door").snapshot(0.0)
    killed = dataclasses.replace(base, results_written=3, results_dropped=2, results_errors=1)
    last = dataclasses.replace(base, results_written=1, results_dropped=1)
    waiting = relay.snapshot("door", carried(None, killed))  # the killed attempt, ended
    running = relay.snapshot("door", carried(killed, last))
    assert (waiting.results_dropped, waiting.results_errors) == (2, 1)
    assert (running.results_dropped, running.results_errors) == (3, 1)
    summary = PipelineReport.from_snapshot(carried(killed, last), source="door", processor="x")
    result = StreamResult("door", summary, 7, 0, None, "end", cv_threads=1)
    (final,) = relay.close([result])
    assert final.summary.results_written == 4  # what reached the file
    assert (final.summary.results_dropped, final.summary.results_errors) == (3, 1)
