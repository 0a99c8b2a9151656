"""The results file: one JSON line per frame with results, written off the caller's thread."""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from framepipe.pipeline import Pipeline
from framepipe.pipeline.results import ResultsLine, ResultsWriter, encode_results
from helpers import wait_until
from parallel_processors import odd_results, padded_results


def _writer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "framepipe-results"]


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


class TestEncodeResults:
    def test_numpy_values_become_plain_numbers_and_lists(self) -> None:
        """Scalars, arrays and tuples of numpy come out as JSON numbers and arrays."""
        results = {"count": np.int64(3), "score": np.float32(0.5), "box": np.array([1, 2, 3, 4])}
        line = json.loads(encode_results(ResultsLine("door", 7, 1.25, results)))
        assert line == {
            "stream": "door",
            "frame": 7,
            "t": 1.25,
            "results": {"count": 3, "score": 0.5, "box": [1, 2, 3, 4]},
        }

    @pytest.mark.parametrize(
        "results",
        [
            object(),  # no JSON form at all
            {"score": math.nan},  # not JSON, whatever Python's json accepts by default
            {"score": np.float64(math.inf)},
            {(1, 2): "a tuple key"},
        ],
    )
    def test_what_json_cannot_hold_is_refused(self, results: object) -> None:
        with pytest.raises((TypeError, ValueError)):
            encode_results(ResultsLine("main", 0, 0.0, results))


class TestResultsWriter:
    def test_every_submitted_line_is_written_in_order(self, tmp_path: Path) -> None:
        path = tmp_path / "results.jsonl"
        writer = ResultsWriter(path)
        for frame in range(100):
            assert writer.submit("main", frame, 1000.0 + frame, [{"x": frame}])
        stats = writer.close()
        lines = _lines(path)
        assert [line["frame"] for line in lines] == list(range(100))
        assert lines[5] == {"stream": "main", "frame": 5, "t": 1005.0, "results": [{"x": 5}]}
        assert (stats.written, stats.dropped, stats.errors) == (100, 0, 0)

    def test_a_value_json_cannot_hold_is_counted_and_reported_once(self, tmp_path: Path) -> None:
        path = tmp_path / "results.jsonl"
        reports: list[str] = []
        writer = ResultsWriter(path, report=reports.append)
        writer.submit("main", 0, 0.0, {"ok": 1})
        writer.submit("main", 1, 0.0, {"bad": object()})
        writer.submit("main", 2, 0.0, {"bad": math.nan})
        writer.submit("main", 3, 0.0, {"ok": 3})
        stats = writer.close()
        assert [line["frame"] for line in _lines(path)] == [0, 3]
        assert (stats.written, stats.errors) == (2, 2)
        assert len(reports) == 1
        assert "frame 1 of main" in reports[0]
        assert "\n" not in reports[0]

    def test_a_full_queue_drops_and_counts_without_waiting(self, tmp_path: Path) -> None:
        """With the writer thread held in a callback, submits past the queue's room return at
        once, False, and every line is accounted for at the end."""
        held = threading.Event()
        release = threading.Event()

        def hold(line: ResultsLine) -> None:
            held.set()
            release.wait(30)

        writer = ResultsWriter(tmp_path / "r.jsonl", queue_size=4, on_results=hold)
        try:
            writer.submit("main", 0, 0.0, 0)
            assert held.wait(30)
            accepted = [writer.submit("main", frame, 0.0, frame) for frame in range(1, 11)]
        finally:
            release.set()
        stats = writer.close()
        assert accepted == [True] * 4 + [False] * 6
        assert (stats.written, stats.dropped, stats.errors) == (5, 6, 0)
        assert [line["frame"] for line in _lines(tmp_path / "r.jsonl")] == [0, 1, 2, 3, 4]

    def test_a_full_disk_counts_each_failed_line_and_says_so_once(self) -> None:
        reports: list[str] = []
        writer = ResultsWriter("/dev/full", report=reports.append)
        for frame in range(5):
            writer.submit("main", frame, 0.0, {"frame": frame})
        stats = writer.close()
        assert (stats.written, stats.errors) == (0, 5)
        assert len(reports) == 1
        assert "/dev/full" in reports[0]
        assert "No space left" in reports[0]

    def test_the_file_rotates_by_size_and_keeps_every_line(self, tmp_path: Path) -> None:
        path = tmp_path / "results.jsonl"
        writer = ResultsWriter(path, max_bytes=2000, backup_count=50)
        for frame in range(300):
            writer.submit("main", frame, 0.0, {"frame": frame})
        writer.close()
        files = sorted(tmp_path.glob("results.jsonl*"))
        assert len(files) > 3
        assert all(f.stat().st_size <= 2000 for f in files)
        frames = sorted(line["frame"] for f in files for line in _lines(f))
        assert frames == list(range(300))

    def test_a_dash_writes_to_stdout(self, capfd: pytest.CaptureFixture[str]) -> None:
        writer = ResultsWriter("-")
        writer.submit("cam", 1, 2.0, ["a"])
        writer.close()
        out = capfd.readouterr().out
        assert json.loads(out) == {"stream": "cam", "frame": 1, "t": 2.0, "results": ["a"]}

    def test_the_callback_runs_on_the_writer_thread_and_its_failure_is_counted(
        self, tmp_path: Path
    ) -> None:
        threads: list[str] = []
        reports: list[str] = []

        def callback(line: ResultsLine) -> None:
            threads.append(threading.current_thread().name)
            if line.frame == 1:
                raise RuntimeError("the consumer broke")

        writer = ResultsWriter(tmp_path / "r.jsonl", on_results=callback, report=reports.append)
        for frame in range(3):
            writer.submit("main", frame, 0.0, frame)
        stats = writer.close()
        assert threads == ["framepipe-results"] * 3
        assert (stats.written, stats.errors, stats.callback_errors) == (3, 0, 1)
        assert reports == ["on_results raised: RuntimeError: the consumer broke"]

    def test_close_is_idempotent_and_later_submits_are_dropped(self, tmp_path: Path) -> None:
        writer = ResultsWriter(tmp_path / "r.jsonl")
        writer.submit("main", 0, 0.0, 0)
        first = writer.close()
        assert writer.close() == first
        assert writer.submit("main", 1, 0.0, 1) is False
        assert writer.stats().dropped == 1
        assert not _writer_threads()

    def test_close_is_bounded_when_the_writer_is_stuck(self, tmp_path: Path) -> None:
        release = threading.Event()
        writer = ResultsWriter(
            tmp_path / "r.jsonl", queue_size=1, on_results=lambda line: release.wait(30)
        )
        try:
            writer.submit("main", 0, 0.0, 0)
            writer.submit("main", 1, 0.0, 1)
            writer.close(timeout=0.3)  # returns although the thread cannot take the end marker
        finally:
            release.set()
        # Released, the writer ends by itself; the line it never took counts as dropped.
        wait_until(lambda: not _writer_threads(), "the writer thread to end", timeout=30)
        stats = writer.stats()
        assert (stats.written, stats.dropped, stats.errors) == (1, 1, 0)


# --- results out of a run ------------------------------------------------------------------

SAMPLE = Path(__file__).resolve().parent.parent / "samples" / "sample.mp4"


def _quiet_logger(name: str = "framepipe.test.results") -> logging.Logger:
    log = logging.getLogger(name)
    log.propagate = True
    return log


class TestPipelineResults:
    def test_motion_on_the_sample_writes_one_line_per_frame_with_regions(
        self, tmp_path: Path
    ) -> None:
        """Every frame motion found regions on is one valid JSON line, in frame order, with
        the capture time in epoch seconds; the summary counts them."""
        path = tmp_path / "motion.jsonl"
        before = time.time()
        report = Pipeline(
            str(SAMPLE), processor="motion", results=path, logger=_quiet_logger(), stream="door"
        ).run()
        lines = _lines(path)
        assert lines, "motion finds moving things in the sample"
        frames = [line["frame"] for line in lines]
        assert frames == sorted(frames) and len(set(frames)) == len(frames)
        assert report.results_written == len(lines) and report.results_dropped == 0
        assert report.results_errors == 0
        assert report.to_dict()["results_written"] == len(lines)
        for line in lines:
            assert set(line) == {"stream", "frame", "t", "results"} and line["stream"] == "door"
            assert before - 5 <= line["t"] <= time.time() + 5
            for region in line["results"]:
                assert set(region) == {"x", "y", "w", "h", "area"}
                assert region["area"] == region["w"] * region["h"]

    def test_on_results_is_called_on_the_writer_thread_without_a_file(self) -> None:
        """A callback alone gets every line, never on the frame loop's thread."""
        got: list[tuple[int, str]] = []
        report = Pipeline(
            str(SAMPLE),
            processor="motion",
            logger=_quiet_logger(),
            on_results=lambda line: got.append((line.frame, threading.current_thread().name)),
        ).run()
        assert got and report.results_written == len(got)
        assert {name for _, name in got} == {"framepipe-results"}

    def test_values_json_cannot_hold_are_counted_and_said_once(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A frame whose results are not JSON is refused and counted; the run goes on; the
        problem is logged once, without a traceback."""
        caplog.set_level(logging.ERROR, logger="framepipe.test.results")
        lines: list[ResultsLine] = []
        report = Pipeline(
            "synthetic:64x48@30:2",
            processor=odd_results,
            logger=_quiet_logger(),
            on_results=lines.append,
        ).run()
        assert report.results_errors > 0 and report.results_written == len(lines) > 0
        assert report.results_written + report.results_errors == report.frames_processed
        said = [r for r in caplog.records if "not JSON" in r.getMessage()]
        assert len(said) == 1 and said[0].exc_info is None

    def test_the_snapshot_carries_the_counts_and_the_last_results(self, tmp_path: Path) -> None:
        pipeline = Pipeline(
            str(SAMPLE), processor="motion", results=tmp_path / "r.jsonl", logger=_quiet_logger()
        )
        pipeline.run()
        snapshot = pipeline.snapshot()
        lines = _lines(tmp_path / "r.jsonl")
        assert snapshot.results_written == len(lines)
        assert snapshot.last_results == {
            "frame": lines[-1]["frame"], "t": lines[-1]["t"], "results": lines[-1]["results"]
        }  # fmt: skip

    def test_a_results_file_nobody_reads_never_slows_the_loop(self, tmp_path: Path) -> None:
        """A FIFO whose reader never reads: the writer blocks once the pipe is full, the loop
        does not (it runs every frame while the writer is stuck; what that costs a frame is
        measured in benchmarks/test_pipeline_fps.py), and every line that did not get through
        is counted as dropped."""
        fifo = tmp_path / "results.fifo"
        os.mkfifo(fifo)
        source, frames = "synthetic:64x48@30:100", 2500

        others = set(_writer_threads())  # any that another test left still ending
        reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # opened, never read
        try:
            report = Pipeline(
                source, processor=padded_results, results=fifo, max_frames=frames,
                logger=_quiet_logger(),
            ).run()  # fmt: skip
            # The run ended with its writer still stuck on the full pipe (nothing reads it).
            assert [t.is_alive() for t in set(_writer_threads()) - others] == [True]
        finally:
            os.close(reader)
        assert report.frames_processed == frames and report.end_reason == "max_frames"
        assert report.results_dropped > 0, "the pipe and the queue filled up"
        assert (
            report.results_written + report.results_dropped + report.results_errors
            == report.frames_processed
        )
        wait_until(
            lambda: set(_writer_threads()) <= others, "the writer thread to end once unblocked"
        )


class TestResultsFlag:
    def test_framepipe_run_results_writes_the_file_and_the_summary_counts(
        self, tmp_path: Path
    ) -> None:
        from framepipe.cli import main

        results, summary = tmp_path / "r.jsonl", tmp_path / "s.json"
        code = main([
            "run", str(SAMPLE), "--quiet", "--results", str(results),
            "--summary-json", str(summary), "--log-dir", str(tmp_path / "logs"),
        ])  # fmt: skip
        assert code == 0
        report = json.loads(summary.read_text())
        lines = _lines(results)
        assert report["results_written"] == len(lines) > 0
        assert report["results_dropped"] == report["results_errors"] == 0
        assert {line["stream"] for line in lines} == {"main"}

    def test_a_results_path_in_a_missing_directory_is_a_usage_error(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        from framepipe.cli import main

        code = main([
            "run", str(SAMPLE), "--quiet", "--results", str(tmp_path / "nope" / "r.jsonl"),
            "--log-dir", str(tmp_path / "logs"),
        ])  # fmt: skip
        assert code == 2
        err = capsys.readouterr().err
        assert "does not exist" in err and "Traceback" not in err
