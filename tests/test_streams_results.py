"""Several streams' results: the parent writes every stream's lines to the file its config
names, each line naming its stream, and each stream's summary counts its own; in a set that
changes while it runs too (streams added later, to files of their own, and removed)."""

from __future__ import annotations

import dataclasses
import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from framepipe import PipelineConfig
from framepipe.cli import main
from framepipe.pipeline.report import PipelineReport
from framepipe.pipeline.status import RunStatus
from framepipe.streams import StreamResult, StreamsHandle, run_streams, start_streams
from framepipe.streams._live_set import LiveSetSupervisor
from framepipe.streams._messages import Results
from framepipe.streams._results import ResultsRefused, ResultsRelay
from helpers import wait_until

TESTS = Path(__file__).resolve().parent
SAMPLE = TESTS.parent / "samples" / "sample.mp4"
JITTERY = "parallel_processors:jittery"  # results on every frame
PACED = "synthetic:64x48@30:60"  # with realtime: a minute unless removed or stopped
SHORT = "synthetic:64x48@30:1"  # 30 frames, as fast as they go
WAIT_S = 30.0  # workers start in fresh interpreters, on a machine that may be busy


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
    from framepipe.streams._totals import carried

    relay = ResultsRelay()
    relay.join("door", tmp_path / "all.jsonl")
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


def _lines(path: Path) -> list[dict[str, Any]]:
    """Every line of ``path``, each of which must be a whole JSON document."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _result(name: str, sent: int) -> StreamResult:
    """An ended stream's result whose workers said they sent ``sent`` results lines."""
    snapshot = dataclasses.replace(RunStatus(name).snapshot(0.0), results_written=sent)
    summary = PipelineReport.from_snapshot(snapshot, source=name, processor="x")
    return StreamResult(name, summary, 1, 0, None, "end", cv_threads=1)


# --- the relay: one writer per file -------------------------------------------------------------


def test_paths_naming_one_file_share_its_writer_and_the_files_open_are_bounded(
    tmp_path: Path,
) -> None:
    (tmp_path / "sub").mkdir()
    relay = ResultsRelay(max_files=2)
    relay.join("a", tmp_path / "one.jsonl")
    relay.join("b", tmp_path / "sub" / ".." / "one.jsonl")  # the same file, spelled otherwise
    relay.join("c", tmp_path / "two.jsonl")
    assert len(relay.paths) == 2
    with pytest.raises(ResultsRefused, match="2 results files already"):
        relay.join("d", tmp_path / "three.jsonl")
    relay.join("d", tmp_path / "two.jsonl")  # a file open already is no one more
    with pytest.raises(ValueError, match="does not exist"):
        relay.join("e", tmp_path / "missing" / "r.jsonl")
    with pytest.raises(ValueError, match="is a directory"):
        relay.join("e", tmp_path / "sub")
    assert not relay.joined("e") and len(relay.paths) == 2
    relay.close([])
    assert not (tmp_path / "three.jsonl").exists()


def test_a_file_that_cannot_be_written_is_refused_as_its_stream_joins(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root may write a read-only file")
    locked = tmp_path / "locked.jsonl"
    locked.write_text("")
    locked.chmod(0o444)
    relay = ResultsRelay()
    with pytest.raises(ValueError, match="cannot be opened"):
        relay.join("a", locked)
    relay.close([])


def test_a_stream_that_leaves_has_its_final_counts_and_the_last_to_leave_closes_the_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ab.jsonl"
    relay = ResultsRelay()
    relay.join("a", path)
    relay.join("b", path)
    for frame in range(3):
        relay.line("a", Results(frame, 0.0, {"n": frame}))
        relay.line("b", Results(frame, 0.0, {"n": frame}))
    wait_until(lambda: relay.settled("a") and relay.settled("b"), "the lines to be written")
    a = relay.leave(_result("a", sent=4))  # one line sent that never came: dropped
    assert (a.summary.results_written, a.summary.results_dropped) == (3, 1)
    assert len(relay.paths) == 1  # b writes there still
    relay.leave(_result("b", sent=3))
    assert relay.paths == ()
    assert Counter(line["stream"] for line in _lines(path)) == {"a": 3, "b": 3}


# --- real workers: streams of a running set, each to its own file ------------------------------


@pytest.fixture
def workers_import_tests(monkeypatch: pytest.MonkeyPatch, logs_in_tmp: Path) -> None:
    """Workers (spawned: they get this path) import the test processors; logs in tmp."""
    monkeypatch.syspath_prepend(str(TESTS))


def _results(path: Path, **settings: Any) -> PipelineConfig:
    return PipelineConfig(results=str(path), **settings)


def _wait_ended(handle: StreamsHandle, *names: str) -> None:
    wait_until(
        lambda: all(
            state.state == "ended" for state in handle.list_streams() if state.name in names
        ),
        lambda: f"{names} to end: {handle.list_streams()}",
        timeout=WAIT_S,
    )


def _wait_frames(handle: StreamsHandle, name: str, count: int) -> None:
    wait_until(
        lambda: handle.streams[name].snapshot().frames_processed >= count,
        lambda: f"{count} frames on {name}: {handle.snapshot()}",
        timeout=WAIT_S,
        interval=0.05,
    )


def _exact(result: StreamResult, lines: int) -> None:
    """Every processed frame had results, and each is one line of the file."""
    summary = result.summary
    assert summary.results_written == lines == summary.frames_processed > 0, result
    assert (summary.results_dropped, summary.results_errors) == (0, 0), result


@pytest.mark.usefixtures("workers_import_tests")
class TestAStreamSetThatChanges:
    def test_a_service_started_empty_writes_the_results_of_a_stream_added_later(
        self, tmp_path: Path
    ) -> None:
        path = tmp_path / "late.jsonl"
        with start_streams([], service=True) as handle:
            handle.add_stream("late", SHORT, JITTERY, _results(path))
            _wait_ended(handle, "late")
            wait_until(
                lambda: handle.streams["late"].snapshot().results_written == 30,
                lambda: f"the file's count in the snapshot: {handle.snapshot()}",
                timeout=WAIT_S,
            )
        report = handle.wait(0)
        assert report is not None
        (late,) = report.streams
        lines = _lines(path)
        _exact(late, len(lines))
        assert {line["stream"] for line in lines} == {"late"}

    def test_two_streams_added_with_two_files_write_each_only_its_own_lines(
        self, tmp_path: Path
    ) -> None:
        with start_streams([], service=True) as handle:
            for name in ("door", "yard"):
                handle.add_stream(name, SHORT, JITTERY, _results(tmp_path / f"{name}.jsonl"))
            _wait_ended(handle, "door", "yard")
        report = handle.wait(0)
        assert report is not None and len(report.streams) == 2
        for result in report.streams:
            lines = _lines(tmp_path / f"{result.stream}.jsonl")
            assert {line["stream"] for line in lines} == {result.stream}
            _exact(result, len(lines))

    def test_a_set_whose_first_stream_writes_no_results_writes_the_others_own(
        self, tmp_path: Path
    ) -> None:
        """Streams of a config file, each with its settings: the first names no results file,
        the others theirs."""
        report = run_streams(
            [SHORT, SHORT, SHORT], JITTERY, names=["plain", "door", "yard"],
            configs=[PipelineConfig(), _results(tmp_path / "door.jsonl"),
                     _results(tmp_path / "yard.jsonl")],
        )  # fmt: skip
        results = {result.stream: result for result in report.streams}
        assert results["plain"].summary.results_written == 0
        assert sorted(path.name for path in tmp_path.glob("*.jsonl")) == [
            "door.jsonl", "yard.jsonl"
        ]  # fmt: skip
        for name in ("door", "yard"):
            lines = _lines(tmp_path / f"{name}.jsonl")
            assert {line["stream"] for line in lines} == {name}
            _exact(results[name], len(lines))

    def test_a_stream_removed_mid_run_has_its_counts_and_its_file_is_complete_and_closed(
        self, tmp_path: Path
    ) -> None:
        path = tmp_path / "door.jsonl"
        with start_streams([], service=True) as handle:
            handle.add_stream("door", PACED, JITTERY, _results(path, realtime=True))
            _wait_frames(handle, "door", 10)
            removed = handle.remove_stream("door")
            _exact(removed, len(_lines(path)))
            relay = _relay(handle)
            assert relay.paths == () and not relay.joined("door")

    def test_a_stream_removed_from_a_shared_file_while_another_writes_on_is_counted_apart(
        self, tmp_path: Path
    ) -> None:
        """Its lines are in the file when its result comes, and no more after; a stream added
        again under its name is counted from zero."""
        shared = tmp_path / "shared.jsonl"
        with start_streams([], service=True) as handle:
            for name in ("door", "yard"):
                handle.add_stream(name, PACED, JITTERY, _results(shared, realtime=True))
            _wait_frames(handle, "door", 10)
            removed = handle.remove_stream("door")
            at_removal = Counter(line["stream"] for line in _lines(shared))["door"]
            _exact(removed, at_removal)
            handle.add_stream("door", SHORT, JITTERY, _results(shared))
            _wait_ended(handle, "door")
            _wait_frames(handle, "yard", handle.streams["yard"].snapshot().frames_processed + 5)
        report = handle.wait(0)
        assert report is not None
        results = {result.stream: result for result in report.streams}
        per_stream = Counter(line["stream"] for line in _lines(shared))
        _exact(results["door"], per_stream["door"] - at_removal)
        _exact(results["yard"], per_stream["yard"])

    def test_a_stream_whose_results_directory_is_missing_is_refused_as_it_is_added(
        self, tmp_path: Path
    ) -> None:
        with start_streams([], service=True) as handle:
            missing = _results(tmp_path / "missing" / "r.jsonl")
            with pytest.raises(ValueError, match="does not exist"):
                handle.add_stream("lost", SHORT, JITTERY, missing)
            assert handle.names == ()
            handle.add_stream("lost", SHORT, JITTERY, _results(tmp_path / "r.jsonl"))
            _wait_ended(handle, "lost")
        report = handle.wait(0)
        assert report is not None
        (lost,) = report.streams
        _exact(lost, len(_lines(tmp_path / "r.jsonl")))


def test_a_stream_the_set_starts_with_whose_results_cannot_be_opened_fails_at_once(
    tmp_path: Path, logs_in_tmp: Path
) -> None:
    """No worker starts for it (its lines would have nowhere to go); the others run."""
    report = run_streams(
        [SHORT, SHORT], names=["lost", "plain"],
        configs=[_results(tmp_path / "missing" / "r.jsonl"), PipelineConfig()],
    )  # fmt: skip
    results = {result.stream: result for result in report.streams}
    lost = results["lost"]
    assert lost.error is not None and "does not exist" in lost.error
    assert lost.pid is None and lost.summary.frames_processed == 0
    assert results["plain"].ok and results["plain"].summary.frames_processed == 30


def _relay(handle: StreamsHandle) -> ResultsRelay:
    supervisor = handle._supervisor
    assert isinstance(supervisor, LiveSetSupervisor)
    return supervisor._results
