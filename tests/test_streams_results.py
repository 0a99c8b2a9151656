"""Several streams, one results file: the parent writes every stream's lines, each naming its
stream, and each stream's summary counts its own."""

from __future__ import annotations

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
