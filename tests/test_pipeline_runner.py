"""Tests for framepipe.pipeline.runner: the Pipeline frame loop end to end, with real sources."""

from __future__ import annotations

import logging
import os
import pickle
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from framepipe.logging import Logger, configure
from framepipe.pipeline import (
    OutputError,
    Pipeline,
    PipelineConfig,
    PipelineError,
    PipelineReport,
    PipelineSnapshot,
    Source,
    SourceError,
    SourceInfo,
    open_source,
)
from helpers import ManualClock, wait_until
from streams import StreamServer
from video_files import count_frames, write_video


def log_text(log_dir: Path) -> str:
    return "".join(path.read_text() for path in sorted(log_dir.glob("logs_*.txt*")))


@pytest.fixture(autouse=True)
def app_logger(tmp_path: Path) -> Logger:
    """The application's logger, configured as an application does; pipelines log through it
    (conftest stops it after the test)."""
    return configure(log_dir=tmp_path / "logs")


class IndexSource(Source):
    """``count`` tiny frames whose pixels hold their index (a source with known content)."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.next = 0
        self.released = False
        self.info = SourceInfo("index", "synthetic", 30.0, 8, 8, count, False)

    def read(self) -> np.ndarray | None:
        if self.next >= self.count:
            return None
        self.next += 1
        return np.full((8, 8, 3), self.next - 1, np.uint8)

    def release(self) -> None:
        self.released = True


class EndlessSource(Source):
    """Tiny frames for ever, as fast as they are read; ``reads`` counts the calls to read()."""

    def __init__(self) -> None:
        self.reads = 0
        self.info = SourceInfo("endless", "synthetic", 30.0, 8, 8, None, False)

    def read(self) -> np.ndarray:
        self.reads += 1
        return np.zeros((8, 8, 3), np.uint8)

    def release(self) -> None:
        pass


def waits_for_the_reader(source: EndlessSource) -> Callable[[np.ndarray], np.ndarray]:
    """A processor that returns only once the reader has put at least one more frame in the
    buffer (it has started a second read since), so the loop never stops on an empty buffer."""

    def process(frame: np.ndarray) -> np.ndarray:
        target = source.reads + 2
        wait_until(lambda: source.reads >= target, "the reader's next read", interval=0.0005)
        return frame

    return process


class TestPipelineRun:
    def test_processes_every_frame_of_a_real_file(self, tmp_path: Path):
        """A 40-frame AVI: 40 read, 40 processed, none dropped, processor saw each frame once."""
        clip = write_video(tmp_path / "clip.avi", frames=40)
        seen: list[tuple[int, ...]] = []

        def record(frame: np.ndarray) -> np.ndarray:
            seen.append(frame.shape)
            return frame

        report = Pipeline(str(clip), processor=record).run()
        assert isinstance(report, PipelineReport)
        assert (report.frames_read, report.frames_processed, report.frames_dropped) == (40, 40, 0)
        assert seen == [(48, 64, 3)] * 40
        assert report.source == "clip.avi"
        assert report.processor == "record"
        assert report.end_reason == "end"
        assert report.drop_policy == "block"  # files default to every frame

    def test_stops_after_max_frames(self, tmp_path: Path):
        """max_frames=7 on a 300-frame scene processes and reads exactly 7 frames."""
        report = Pipeline("synthetic:64x48@30:10", max_frames=7).run()
        assert (report.frames_read, report.frames_processed) == (7, 7)
        assert report.end_reason == "max_frames"

    def test_logs_every_nth_frame_with_time_and_budget(self, tmp_path: Path):
        """log_every=10 over 25 frames logs frames 0, 10 and 20, each with its time and verdict."""
        logs = tmp_path / "logs"
        Pipeline("synthetic:64x48@30:25", max_frames=25, log_every=10).run()
        lines = [line for line in log_text(logs).splitlines() if " frame " in line]
        assert [line.split(" frame ")[1].split(":")[0] for line in lines] == ["0", "10", "20"]
        assert all("budget 33.3 ms met" in line for line in lines)

    def test_a_streak_of_misses_is_logged_as_a_warning(self, tmp_path: Path):
        """Six 50 ms frames against a 10 ms budget: a WARNING at the 5th miss and at the end."""
        clock = ManualClock()
        slow_frames = {2, 3, 4, 5, 6, 7}

        def slow_on_some(frame: np.ndarray) -> np.ndarray:
            if int(frame[0, 0, 0]) in slow_frames:
                clock.advance(0.050)
            return frame

        logs = tmp_path / "logs"
        report = Pipeline(
            IndexSource(12), processor=slow_on_some, clock=clock, budget_ms=10.0
        ).run()
        assert report.budget_misses == 6
        assert report.longest_miss_streak == 6
        warnings = [line for line in log_text(logs).splitlines() if "WARNING" in line]
        assert len(warnings) == 2
        assert "budget missed 5 frames in a row" in warnings[0]
        assert "miss streak ended after 6 frames" in warnings[1]

    def test_budget_defaults_to_the_source_frame_period(self, tmp_path: Path):
        """A 20 FPS source gets a 50 ms budget unless one is given."""
        report = Pipeline("synthetic:32x32@20:0.2").run()
        assert report.budget_ms == 50.0
        given = Pipeline("synthetic:32x32@20:0.2", budget_ms=12.5).run()
        assert given.budget_ms == 12.5

    def test_latest_policy_drops_and_counts_what_a_slow_loop_cannot_take(self, tmp_path: Path):
        """With a 3 ms processor and a fast source, frames are skipped, and every read frame is
        either processed or counted as dropped."""

        def slow(frame: np.ndarray) -> np.ndarray:
            time.sleep(0.003)
            return frame

        report = Pipeline("synthetic:32x32@30:5", processor=slow, drop_policy="latest").run()
        assert report.frames_read == 150
        assert report.frames_dropped > 0
        assert report.frames_processed + report.frames_dropped == report.frames_read

    def test_the_frame_left_in_the_slot_at_max_frames_counts_as_dropped(self, tmp_path: Path):
        """Under ``latest`` the frame still in the slot when max_frames ends the run is dropped,
        so read == processed + dropped + failed (it used to go missing from the counts)."""
        source = EndlessSource()
        report = Pipeline(
            source,
            processor=waits_for_the_reader(source),
            drop_policy="latest",
            max_frames=20,
        ).run()
        assert report.frames_processed == 20
        assert report.frames_failed == 0
        assert report.frames_read == report.frames_processed + report.frames_dropped
        assert report.frames_read > 20

    def test_frames_buffered_at_a_stop_count_as_dropped(self, tmp_path: Path):
        """stop() with a full buffer under ``block``: the buffered frames were read, never
        processed, and are counted as dropped."""
        source = EndlessSource()

        def stop_once_the_buffer_is_full(frame: np.ndarray) -> np.ndarray:
            # frame 0 taken, frames 1-4 buffered, frame 5 read and waiting for room
            wait_until(lambda: source.reads >= 6, "a full buffer", interval=0.0005)
            pipeline.stop()
            return frame

        pipeline = Pipeline(
            source,
            processor=stop_once_the_buffer_is_full,
            drop_policy="block",
            buffer_size=4,
        )
        report = pipeline.run()
        assert report.end_reason == "stopped"
        assert (report.frames_read, report.frames_processed, report.frames_dropped) == (5, 1, 4)

    def test_a_processor_list_runs_in_order(self, tmp_path: Path):
        """[gray, invert] gives the inverted gray frame; the name joins the parts."""

        def invert(frame: np.ndarray) -> np.ndarray:
            return 255 - frame

        out = tmp_path / "out.avi"
        report = Pipeline("synthetic:64x48@10:1", processor=["gray", invert], output=out).run()
        assert report.processor == "gray+invert"
        assert report.frames_written == 10
        assert count_frames(out) == 10

    def test_writes_a_playable_output_with_every_processed_frame(self, tmp_path: Path):
        """--output: an MP4 with the processed frame count, the source size and frame rate."""
        out = tmp_path / "processed.mp4"
        Pipeline("synthetic:96x64@15:2", processor="edges", output=out).run()
        capture = cv2.VideoCapture(str(out))
        try:
            assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(15.0)
            assert int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)) == 96
            assert int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)) == 64
        finally:
            capture.release()
        assert count_frames(out) == 30

    def test_an_open_source_object_is_read_and_released(self, tmp_path: Path):
        """A Source instance can be passed directly; the run releases it at the end."""
        source = IndexSource(5)
        report = Pipeline(source).run()
        assert report.frames_processed == 5
        assert source.released

    def test_report_carries_the_logger_stats(self, tmp_path: Path):
        """report.log is the logger's get_stats() after the run's records were flushed."""
        report = Pipeline("synthetic:32x32@30:1").run()
        assert report.log["written"] == report.log["accepted"]
        assert report.log["written"] >= 3  # start, frame 0, end
        assert Path(report.log["log_file"]).parent == tmp_path / "logs"


class TestPipelineFailures:
    def test_a_processor_exception_stops_the_reader_and_is_logged(self, tmp_path: Path):
        """A failure on frame 3 of a 300-frame scene ends the run at once (no hang), keeps the
        partial report and logs the traceback."""

        def explode(frame: np.ndarray) -> np.ndarray:
            if explode.calls == 3:  # type: ignore[attr-defined]
                raise ZeroDivisionError("boom")
            explode.calls += 1  # type: ignore[attr-defined]
            return frame

        explode.calls = 0  # type: ignore[attr-defined]
        logs = tmp_path / "logs"
        with pytest.raises(PipelineError) as caught:
            Pipeline("synthetic:64x48@30:10", processor=explode).run()
        assert str(caught.value) == "processor failed on frame 3: ZeroDivisionError: boom"
        report = caught.value.report
        assert report.frames_processed == 3
        assert report.frames_failed == 1
        assert report.frames_read == 3 + report.frames_dropped + 1
        assert report.end_reason == "error"
        assert isinstance(caught.value.__cause__, ZeroDivisionError)
        text = log_text(logs)
        assert "processor failed on frame 3" in text
        assert "Traceback (most recent call last)" in text
        assert not [t for t in threading.enumerate() if t.name == "framepipe-reader"]

    def test_with_on_error_skip_a_failing_frame_is_logged_counted_and_skipped(self, tmp_path: Path):
        """Frames 3 and 7 raise: each is logged with its index (the traceback too), counted in
        frames_failed, left out of the output, and the run goes on to the end."""

        def fails_on_3_and_7(frame: np.ndarray) -> np.ndarray:
            if int(frame[0, 0, 0]) in (3, 7):
                raise ValueError(f"bad frame {int(frame[0, 0, 0])}")
            return frame

        out = tmp_path / "out.avi"
        pipeline = Pipeline(
            IndexSource(10), processor=fails_on_3_and_7, on_error="skip", output=out
        )
        watched: list[int] = []
        pipeline.progress = lambda progress: watched.append(pipeline.snapshot().frames_failed)
        report = pipeline.run()
        assert (report.end_reason, report.frames_processed, report.frames_failed) == ("end", 8, 2)
        assert report.frames_read == report.frames_processed + report.frames_failed
        assert report.frames_written == count_frames(out) == 8
        assert max(watched) == 2  # counted live, not only in the report
        assert pipeline.snapshot().frames_failed == 2
        text = log_text(tmp_path / "logs")
        assert "processor failed on frame 3: ValueError: bad frame 3; frame skipped" in text
        assert "processor failed on frame 7: ValueError: bad frame 7; frame skipped" in text
        assert text.count("Traceback (most recent call last)") == 2

    def test_consecutive_failures_stop_a_skipping_run_anyway(self, tmp_path: Path):
        """A processor that fails on every frame: after max_consecutive_failures skipped frames
        in a row the run stops with PipelineError saying so; only the first of the streak
        carries a traceback in the log."""

        def always_fails(frame: np.ndarray) -> np.ndarray:
            raise RuntimeError("model not loaded")

        pipeline = Pipeline(
            IndexSource(100), processor=always_fails, on_error="skip", max_consecutive_failures=5
        )
        with pytest.raises(PipelineError) as caught:
            pipeline.run()
        assert str(caught.value) == (
            "processor failed on 5 frames in a row, the last frame 4: RuntimeError: model not "
            "loaded"
        )
        report = caught.value.report
        assert (report.frames_processed, report.frames_failed, report.end_reason) == (0, 5, "error")
        text = log_text(tmp_path / "logs")
        assert text.count("; frame skipped") == 4
        assert text.count("Traceback (most recent call last)") == 2  # first of the streak, end

    def test_a_success_between_failures_starts_the_count_again(self):
        """Failures that are not consecutive never stop a skipping run."""

        def fails_on_odd(frame: np.ndarray) -> np.ndarray:
            if int(frame[0, 0, 0]) % 2:
                raise ValueError("odd")
            return frame

        report = Pipeline(
            IndexSource(40), processor=fails_on_odd, on_error="skip", max_consecutive_failures=2
        ).run()
        assert (report.end_reason, report.frames_processed, report.frames_failed) == ("end", 20, 20)

    def test_frames_the_output_cannot_take_fail_the_run_and_none_count_as_written(
        self, tmp_path: Path
    ):
        """A processor returning float frames: the first write fails, naming what the writer
        takes, and the report says 0 frames written (it used to count every call)."""

        def to_float(frame: np.ndarray) -> np.ndarray:
            return frame.astype(np.float32) / 255.0

        out = tmp_path / "out.mp4"
        with pytest.raises(PipelineError, match=r"frames must be uint8 .* but got 8x8x3 float32"):
            Pipeline(IndexSource(15), processor=to_float, output=out).run()
        assert not out.exists() or count_frames(out) == 0

    def test_bgra_frames_from_a_processor_are_all_written(self, tmp_path: Path):
        """Four-channel frames are converted; the file holds every processed frame."""

        def to_bgra(frame: np.ndarray) -> np.ndarray:
            return cv2.cvtColor(frame, cv2.COLOR_BGR2BGRA)

        out = tmp_path / "out.mp4"
        report = Pipeline(IndexSource(15), processor=to_bgra, output=out).run()
        assert report.frames_written == count_frames(out) == 15

    def test_an_output_failure_is_reported_as_such(self, tmp_path: Path):
        """A processor that changes the frame size mid-run breaks the output, not the processor:
        the error names the output stage and the file keeps the frames written so far."""

        def grow_on_third(frame: np.ndarray) -> np.ndarray:
            return cv2.resize(frame, (80, 60)) if int(frame[0, 0, 0]) == 2 else frame

        out = tmp_path / "out.avi"
        with pytest.raises(PipelineError, match=r"^output failed on frame 2: OutputError: .*"):
            Pipeline(IndexSource(6), processor=grow_on_third, output=out).run()
        assert count_frames(out) == 2

    def test_a_failing_progress_callback_is_logged_once_and_the_run_goes_on(self, tmp_path: Path):
        """Progress drawn on a terminal that has gone away (EIO) must not end the run: the
        error is logged once and progress is off for the rest of the run."""
        calls = []

        def broken_terminal(progress: object) -> None:
            calls.append(progress)
            raise OSError(5, "Input/output error")

        logs = tmp_path / "logs"
        report = Pipeline("synthetic:32x32@30:1", progress=broken_terminal).run()
        assert report.frames_processed == 30
        assert len(calls) == 1
        assert log_text(logs).count("progress callback failed") == 1

    def test_stop_from_another_thread_ends_the_run(self, tmp_path: Path):
        """stop() called from a timer thread ends a long run with reason 'stopped'."""
        started = threading.Event()

        def mark(frame: np.ndarray) -> np.ndarray:
            started.set()
            return frame

        pipeline = Pipeline("synthetic:32x32@30:1000", processor=mark)
        stopper = threading.Thread(target=lambda: started.wait(10) and pipeline.stop())
        stopper.start()
        report = pipeline.run()
        stopper.join(10)
        assert report.end_reason == "stopped"
        assert 0 < report.frames_processed < 30_000

    def test_a_stop_before_run_sticks_and_no_frame_is_processed(self, tmp_path: Path):
        """stop() that comes before run() (a worker told to stop while it starts) is not
        forgotten: the run processes no frame and reports that it was stopped."""
        seen: list[int] = []
        pipeline = Pipeline("synthetic:32x32@30:10", processor=lambda f: seen.append(1) or f)
        pipeline.stop()
        report = pipeline.run()
        assert report.end_reason == "stopped"
        assert report.frames_processed == 0 and seen == []
        assert "stop requested after 0 frames" in log_text(tmp_path / "logs")

    def test_a_run_after_a_stopped_run_starts_afresh(self, tmp_path: Path):
        """The stop belongs to the run it ended (or the next one, when it came between runs):
        running the same pipeline again processes its frames."""
        pipeline = Pipeline("synthetic:32x32@30:1")
        pipeline.stop()
        assert pipeline.run().frames_processed == 0
        assert pipeline.run().frames_processed == 30

    def test_a_source_that_does_not_open_is_a_source_error_and_ends_the_run(self, tmp_path: Path):
        """A file that is not a video raises SourceError from run(); the snapshot says ended."""
        fake = tmp_path / "fake.mp4"
        fake.write_text("not a video\n")
        pipeline = Pipeline(str(fake))
        with pytest.raises(SourceError, match="not a video file"):
            pipeline.run()
        assert pipeline.snapshot().state == "ended"

    def test_a_missing_file_is_a_source_error_before_anything_starts(self, tmp_path: Path):
        """The spec is checked in the constructor, before any thread exists."""
        threads = set(threading.enumerate())
        with pytest.raises(SourceError, match="no such file"):
            Pipeline(str(tmp_path / "missing.mp4"))
        assert set(threading.enumerate()) == threads

    def test_an_output_that_is_the_source_file_is_refused(self, tmp_path: Path):
        """Pipeline("clip.avi", output="clip.avi") would truncate its own input: ValueError,
        and the file is untouched."""
        clip = write_video(tmp_path / "clip.avi", frames=5)
        original = clip.read_bytes()
        (tmp_path / "alias.avi").symlink_to(clip)
        with pytest.raises(ValueError, match=r"output .*alias.avi is the source file"):
            Pipeline(str(clip), output=tmp_path / "alias.avi")
        assert clip.read_bytes() == original

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"budget_ms": 0}, "budget_ms must be positive and finite, but got 0"),
            ({"budget_ms": float("inf")}, "budget_ms must be positive and finite, but got inf"),
            ({"log_every": 0}, "log_every must be a positive integer, but got 0"),
            ({"max_frames": -2}, "max_frames must be a positive integer, but got -2"),
            ({"drop_policy": "oldest"}, "drop_policy must be one of block, latest"),
            ({"processor": "sharpen"}, "unknown processor 'sharpen'"),
            ({"processor": 42}, "processor must be a callable, a built-in name, an import path"),
            ({"processor": []}, "processor list must not be empty"),
            ({"processor": "fp_no_such_module:fn"}, "cannot import module 'fp_no_such_module'"),
            ({"output": "out.gif"}, "output file extension must be one of"),
            ({"output": "no/such/dir/out.mp4"}, "output directory must exist"),
            ({"config": {"budget_ms": 20}}, "config must be a PipelineConfig, but got"),
        ],
    )
    def test_rejects_bad_options_with_value_errors(self, kwargs: dict[str, object], message: str):
        """Every bad option raises ValueError with expected-versus-actual text."""
        with pytest.raises(ValueError, match=message):
            Pipeline("synthetic", **kwargs)  # type: ignore[arg-type]


class TestPipelineSettings:
    def test_keyword_options_make_the_config(self):
        """Pipeline(src, budget_ms=20) is Pipeline(src, config=PipelineConfig(budget_ms=20))."""
        pipeline = Pipeline("synthetic", processor="edges", budget_ms=20, max_frames=3)
        assert pipeline.config == PipelineConfig(budget_ms=20, max_frames=3)

    def test_keywords_replace_the_values_of_a_given_config(self):
        """config= and keywords mix: the keywords win, the given config is left as it was."""
        config = PipelineConfig(budget_ms=20.0, max_frames=5)
        pipeline = Pipeline("synthetic", config=config, max_frames=7)
        assert pipeline.config == PipelineConfig(budget_ms=20.0, max_frames=7)
        assert config.max_frames == 5

    def test_a_config_runs_as_its_keywords_do(self):
        """The settings in a config are the ones the run uses."""
        report = Pipeline("synthetic:32x32@30:1", config=PipelineConfig(max_frames=4)).run()
        assert (report.frames_processed, report.end_reason) == (4, "max_frames")

    @pytest.mark.parametrize("name", ["log_dir", "log_mode"])
    def test_logging_settings_are_not_pipeline_options(self, name: str):
        """log_dir/log_mode belong to the application's configure(); the error says so."""
        with pytest.raises(TypeError, match=rf"^{name} is not a Pipeline option: .*logger="):
            Pipeline("synthetic", **{name: "logs"})  # type: ignore[arg-type]

    def test_an_unknown_keyword_is_a_type_error(self):
        """A misspelt option fails loudly, as for any function."""
        with pytest.raises(TypeError, match="budget_msec"):
            Pipeline("synthetic", budget_msec=20)  # type: ignore[call-arg]

    def test_the_processor_spec_is_kept_as_a_picklable_value(self):
        """processor_spec is what was asked for, not the built callables, so it can travel."""
        pipeline = Pipeline("synthetic", processor=["gray", "edges"])
        assert pickle.loads(pickle.dumps(pipeline.processor_spec)) == ["gray", "edges"]
        assert pipeline.processor_name == "gray+edges"


class TestSnapshot:
    def test_before_a_run_the_snapshot_is_starting_with_zeros(self):
        """A pipeline not yet run reports state starting, no frames and no frame."""
        snapshot = Pipeline("synthetic:32x32@30:1", budget_ms=20.0).snapshot()
        assert isinstance(snapshot, PipelineSnapshot)
        assert (snapshot.state, snapshot.source, snapshot.budget_ms) == (
            "starting",
            "synthetic:32x32@30:1",
            20.0,
        )
        assert (snapshot.frames_read, snapshot.frames_processed, snapshot.fps) == (0, 0, 0.0)
        assert snapshot.latest_frame is None
        assert snapshot.last_frame_at is None

    def test_another_thread_sees_the_run_start_move_and_end(self):
        """A watcher polling snapshot() throughout a run never fails, sees the states in
        order (starting, running, ..., ended) and the counts grow; it is shown frame 10 and
        frame 30 on the way, and after the run the counts are the report's."""
        snapshots: list[PipelineSnapshot] = []
        errors: list[BaseException] = []
        shown: dict[int, PipelineSnapshot] = {}
        at_frame = {10: threading.Event(), 30: threading.Event()}
        taken = {10: threading.Event(), 30: threading.Event()}
        done = threading.Event()
        frames_out: list[np.ndarray] = []

        def pause_at_checkpoints(frame: np.ndarray) -> np.ndarray:
            count = len(frames_out)
            if count in at_frame:  # let the watcher look while this frame is processed
                at_frame[count].set()
                taken[count].wait(10)
            out = frame.copy()
            frames_out.append(out)
            return out

        pipeline = Pipeline("synthetic:32x32@30:2", processor=pause_at_checkpoints)

        def watch() -> None:
            try:
                while not done.is_set():
                    snapshots.append(pipeline.snapshot())
                    for count, event in at_frame.items():
                        if event.is_set() and not taken[count].is_set():
                            shown[count] = pipeline.snapshot()
                            taken[count].set()
                    time.sleep(0.0005)
                snapshots.append(pipeline.snapshot())
            except BaseException as exc:
                errors.append(exc)

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            report = pipeline.run()
        finally:
            done.set()
            watcher.join(10)
        assert errors == []
        states = [snapshot.state for snapshot in snapshots]
        order = ["starting", "running", "stopping", "ended"]
        assert [order.index(state) for state in states] == sorted(order.index(s) for s in states)
        assert states[0] == "starting"
        assert states[-1] == "ended"
        assert shown[10].state == shown[30].state == "running"
        assert (shown[10].frames_processed, shown[30].frames_processed) == (10, 30)
        assert shown[10].latest_frame is frames_out[9]
        assert shown[30].frames_read >= 30
        processed = [snapshot.frames_processed for snapshot in snapshots]
        assert processed == sorted(processed)
        final = snapshots[-1]
        assert (
            (final.frames_read, final.frames_processed, final.frames_dropped)
            == (
                report.frames_read,
                report.frames_processed,
                report.frames_dropped,
            )
            == (60, 60, 0)
        )
        assert final.latest_frame is frames_out[-1]
        assert final.source == "synthetic:32x32@30:2"

    def test_rate_and_frame_times_cover_the_recent_frames(self):
        """On a hand-driven clock, 20 frames of 10 ms each read as 100 FPS and p50 10 ms, the
        last frame finished at the clock's time."""
        clock = ManualClock()

        def ten_ms(frame: np.ndarray) -> np.ndarray:
            clock.advance(0.010)
            return frame

        pipeline = Pipeline(IndexSource(20), processor=ten_ms, clock=clock, budget_ms=5.0)
        report = pipeline.run()
        snapshot = pipeline.snapshot()
        assert snapshot.fps == pytest.approx(100.0)
        assert snapshot.frame_ms == {"p50": 10.0, "p99": 10.0, "max": 10.0}
        assert snapshot.frame_age_ms["p50"] >= 10.0  # at least its own processing time
        assert snapshot.last_frame_at == pytest.approx(clock())
        assert snapshot.budget_misses == report.budget_misses == 20
        assert snapshot.elapsed_s == pytest.approx(0.2)
        assert snapshot.budget_ms == 5.0

    def test_after_a_failed_run_the_snapshot_counts_the_failed_frame(self):
        """The partial report's counts, the failed frame included, are the last snapshot's."""

        def fail_on_third(frame: np.ndarray) -> np.ndarray:
            if int(frame[0, 0, 0]) == 2:
                raise ValueError("bad frame")
            return frame

        pipeline = Pipeline(IndexSource(10), processor=fail_on_third)
        with pytest.raises(PipelineError) as caught:
            pipeline.run()
        snapshot = pipeline.snapshot()
        report = caught.value.report
        assert snapshot.state == "ended"
        assert (snapshot.frames_processed, snapshot.frames_failed) == (2, 1)
        assert snapshot.frames_read == report.frames_read
        assert snapshot.frames_dropped == report.frames_dropped


class WrappedCapture(Source):
    """A real file opened through OpenCV, whose read fails (OSError) at ``fail_at``."""

    def __init__(self, path: Path, fail_at: int | None = None) -> None:
        self.inner = open_source(str(path))
        self.info = self.inner.info
        self.fail_at = fail_at
        self.reads = 0

    def read(self) -> np.ndarray | None:
        if self.reads == self.fail_at:
            raise OSError(5, "Input/output error")
        self.reads += 1
        return self.inner.read()

    def release(self) -> None:
        self.inner.release()


def descriptors_on(path: Path) -> list[str]:
    """This process's open file descriptors on ``path`` (an open capture holds one)."""
    target = os.path.realpath(path)
    fds = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == target:
                fds.append(fd)
        except OSError:
            pass  # closed between the listing and the readlink
    return fds


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="reads /proc/self/fd (Linux)")
class TestTeardown:
    @pytest.mark.parametrize(
        "path",
        ["end", "processor raises", "output fails to open", "source fails mid-run", "stop()"],
    )
    def test_every_way_a_run_ends_leaves_no_thread_and_no_open_capture(
        self, tmp_path: Path, path: str
    ):
        """However the run ends, the reader thread is gone and the clip is closed."""
        clip = write_video(tmp_path / "clip.avi", frames=30)
        pipeline: Pipeline

        def on_frame(frame: np.ndarray) -> np.ndarray:
            index = on_frame.calls  # type: ignore[attr-defined]
            on_frame.calls += 1  # type: ignore[attr-defined]
            if index < 3:  # (near the end the reader has read everything and closed it)
                assert descriptors_on(clip), "the capture is open while the run goes"
            if index == 3 and path == "processor raises":
                raise RuntimeError("boom")
            if index == 3 and path == "stop()":
                pipeline.stop()
            return frame

        on_frame.calls = 0  # type: ignore[attr-defined]
        source: str | Source = str(clip)
        output = None
        if path == "source fails mid-run":
            source = WrappedCapture(clip, fail_at=25)
        if path == "output fails to open":
            (tmp_path / "gone").mkdir()
            output = tmp_path / "gone" / "out.avi"
        threads = set(threading.enumerate())
        pipeline = Pipeline(source, processor=on_frame, output=output)
        if output is not None:
            (tmp_path / "gone").rmdir()  # the video cannot be created once the source is open
        expected = {
            "end": None,
            "processor raises": (PipelineError, "processor failed on frame 3: RuntimeError: boom"),
            "output fails to open": (OutputError, "cannot write video"),
            "source fails mid-run": (PipelineError, "reading clip.avi failed after 25 frames: OSE"),
            "stop()": None,
        }[path]
        caught = None
        if expected is None:
            report = pipeline.run()
            assert report.end_reason == ("stopped" if path == "stop()" else "end")
        else:
            with pytest.raises(expected[0], match=re.escape(expected[1])) as caught:
                pipeline.run()
        # The error (its traceback keeps the run's frames alive) is still held here, so the
        # capture is closed by the teardown, not by the garbage collector.
        assert set(threading.enumerate()) == threads
        assert descriptors_on(clip) == []
        assert pipeline.snapshot().state == "ended"
        del caught


class RecordingLogger:
    """A logger of the application's own: keeps each record's level and text."""

    def __init__(self) -> None:
        self.records: list[tuple[str, str]] = []
        self.flushed = 0

    def _add(self, level: str, msg: object, *args: object) -> None:
        self.records.append((level, str(msg) % args))

    def info(self, msg: object, *args: object) -> None:
        self._add("INFO", msg, *args)

    def warning(self, msg: object, *args: object) -> None:
        self._add("WARNING", msg, *args)

    def error(self, msg: object, *args: object, exc_info: BaseException | None = None) -> None:
        self._add("ERROR", msg, *args)

    def exception(self, msg: object, *args: object) -> None:
        self._add("ERROR", msg, *args)

    def flush(self, timeout: float = 5.0) -> bool:
        self.flushed += 1
        return True

    def get_stats(self) -> dict[str, object]:
        return {"written": len(self.records)}


def logging_setup() -> dict[str, object]:
    """Everything process-wide a library could change about logging."""
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    return {
        "threads": set(threading.enumerate()),
        "handlers": {
            lg.name: list(lg.handlers) for lg in loggers if isinstance(lg, logging.Logger)
        },
        "signals": {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)},
        "excepthooks": (sys.excepthook, threading.excepthook),
    }


class TestLogging:
    def test_a_pipeline_leaves_the_logging_setup_as_it_found_it(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ):
        """A run through the application's logger adds no thread, handler, signal handler,
        exception hook or file: it only logs."""
        monkeypatch.chdir(tmp_path)
        files = set(tmp_path.rglob("*"))
        before = logging_setup()
        Pipeline("synthetic:32x32@30:1", processor="gray").run()
        assert logging_setup() == before
        assert set(tmp_path.rglob("*")) == files
        assert "pipeline end (end)" in log_text(tmp_path / "logs")

    def test_an_injected_logger_gets_the_records_and_the_report_gets_its_stats(
        self, tmp_path: Path
    ):
        """logger= takes any object with the logger's methods: every record goes there, none
        to the process logger, and report.log is its get_stats()."""
        log = RecordingLogger()
        before = logging_setup()
        report = Pipeline("synthetic:32x32@30:1", logger=log, log_every=10).run()
        assert logging_setup() == before
        texts = [text for _, text in log.records]
        assert texts[0].startswith("pipeline start: source=synthetic:32x32@30:1")
        assert [text.split(":")[0] for text in texts if text.startswith("frame ")] == [
            "frame 0",
            "frame 10",
            "frame 20",
        ]
        assert texts[-1].startswith("pipeline end (end): frames_read=30")
        assert log.flushed == 1
        assert report.log == {"written": len(log.records)}
        assert "pipeline" not in log_text(tmp_path / "logs")

    def test_a_standard_library_logger_works_too(self, caplog: pytest.LogCaptureFixture):
        """A logging.Logger has no flush() or get_stats(): the run logs and report.log is {}."""
        caplog.set_level(logging.INFO, logger="myapp.video")
        report = Pipeline("synthetic:32x32@30:1", logger=logging.getLogger("myapp.video")).run()
        assert report.log == {}
        assert any(r.getMessage().startswith("pipeline end (end)") for r in caplog.records)


def sleeps(seconds: float) -> Callable[[np.ndarray], np.ndarray]:
    """A processor that takes ``seconds`` per frame (a heavy model, without the CPU cost)."""

    def process(frame: np.ndarray) -> np.ndarray:
        time.sleep(seconds)
        return frame

    return process


@pytest.fixture
def stream() -> Iterator[StreamServer]:
    """A real 30 FPS MPEG-TS stream served by ffmpeg on 127.0.0.1."""
    with StreamServer() as server:
        yield server


class TestLiveFrameAge:
    def test_latest_keeps_frame_age_within_one_and_a_half_frame_intervals_of_processing(
        self, stream: StreamServer
    ):
        """A 50 ms processor on a 30 FPS stream under ``latest``: the loop always takes the
        newest frame, which waited in the slot at most one frame interval, so age p99 stays
        within 1.5 intervals of the processing time and no lag builds up.

        Measured like timeit, best of up to three runs: on a busy machine the reader thread
        may wait for a core, and a frame decoded late is older by that wait (an idle 2-core
        machine: p99 83 ms against 50 ms of processing; with two busy processes on its cores
        a run can reach 115 ms)."""
        interval_ms = 1000.0 / 30
        excess: list[float] = []
        for _ in range(3):
            if excess:
                stream.start()  # one client per server: a fresh one for each run
            report = Pipeline(stream.url, processor=sleeps(0.05), max_frames=100).run()
            assert report.drop_policy == "latest"
            assert report.frames_dropped > 0
            excess.append(report.frame_age_ms["p99"] - report.frame_ms["p99"])
            if excess[-1] <= 1.5 * interval_ms:
                break
        assert min(excess) <= 1.5 * interval_ms, f"age p99 - frame p99 in each run: {excess} ms"

    def test_block_on_a_live_stream_reports_the_growing_lag_as_frame_age(
        self, stream: StreamServer
    ):
        """The same processor under ``block``: every frame is processed, so the loop falls
        further behind the stream with each one; frames wait in the network's buffers, and
        their age says so (stamped when the stream made them, not when the reader got them)."""
        report = Pipeline(
            stream.url, processor=sleeps(0.05), max_frames=90, drop_policy="block"
        ).run()
        assert report.frames_dropped == 0
        # 90 frames take 4.5 s to process and 3 s to stream: the last ones are > 1 s behind.
        assert report.frame_age_ms["max"] > 1000.0, report


class UnpluggedCamera(Source):
    """Camera 97 as seen through OpenCV when its USB cable is pulled after ``frames`` frames:
    reads come back empty, and opening index 97 again fails (the real ``open_source``)."""

    def __init__(self, frames: int) -> None:
        self.left = frames
        self.info = SourceInfo("97", "camera", 30.0, 8, 8, None, True)

    def read(self) -> np.ndarray | None:
        if self.left == 0:
            return None
        self.left -= 1
        return np.zeros((8, 8, 3), np.uint8)

    def release(self) -> None:
        pass


class TestLiveSourceDrops:
    def test_a_camera_that_disappears_is_reopened_until_the_attempts_run_out(self, tmp_path: Path):
        """A camera unplugged after 12 frames: the pipeline tries to open index 97 again,
        fails as often as allowed, then ends with PipelineError and the report of the 12."""
        pipeline = Pipeline(
            UnpluggedCamera(12), reconnect_attempts=2, reconnect_max_s=0.1, drop_policy="block"
        )
        with pytest.raises(PipelineError) as caught:
            pipeline.run()
        message = str(caught.value)
        assert message.startswith("97 lost after 12 frames: 2 reconnect attempts failed")
        assert "(last: camera 97 does not open" in message
        report = caught.value.report
        assert (report.frames_processed, report.end_reason, report.reconnects) == (12, "error", 0)
        assert report.disconnected_s > 0
        text = log_text(tmp_path / "logs")
        assert "source 97: disconnected after 12 frames (the stream ended); reconnecting" in text
        assert len(re.findall(r"reconnect attempt \d failed: camera 97 does not open", text)) == 2
        assert "source 97: ended" in text

    def test_the_snapshot_says_reconnecting_and_counts_the_reconnect(self, stream: StreamServer):
        """While a dropped stream is being reopened, snapshot().state is ``reconnecting``;
        afterwards ``reconnects`` is 1 and ``disconnected_s`` the time it took."""
        states: set[str] = set()
        done = threading.Event()
        at_frame = [0]

        def drop_at_ten(frame: np.ndarray) -> np.ndarray:
            at_frame[0] += 1
            if at_frame[0] == 10:
                stream.restart_after(1.0)
            return frame

        pipeline = Pipeline(stream.url, processor=drop_at_ten, max_frames=40, reconnect_max_s=0.3)

        def watch() -> None:
            while not done.is_set():
                states.add(pipeline.snapshot().state)
                time.sleep(0.01)

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            report = pipeline.run()
        finally:
            done.set()
            watcher.join(10)
        assert "reconnecting" in states
        snapshot = pipeline.snapshot()
        assert snapshot.reconnects == report.reconnects == 1
        assert snapshot.disconnected_s == report.disconnected_s > 0.5
        assert report.frames_processed == 40

    def test_stop_while_reconnecting_ends_the_run_at_once(self, stream: StreamServer):
        """A stream gone for good, reconnect waits up to 30 s: stop() ends the run promptly,
        as stopped, with no reader thread left behind."""
        pipeline = Pipeline(stream.url, processor=None)
        threading.Timer(1.0, stream.kill).start()

        def stop_when_reconnecting() -> None:
            deadline = time.monotonic() + 20
            while pipeline.snapshot().state != "reconnecting" and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(0.5)
            pipeline.stop()

        stopper = threading.Thread(target=stop_when_reconnecting)
        stopper.start()
        started = time.monotonic()
        report = pipeline.run()
        stopper.join(30)
        assert report.end_reason == "stopped"
        assert time.monotonic() - started < 10
        assert not any(t.name == "framepipe-reader" for t in threading.enumerate())


class TestLoop:
    def test_a_looping_run_counts_its_loops_and_its_frames_go_on(self):
        """The synthetic scene (6 frames) looped for 20: 20 processed, started again 3 times."""
        report = Pipeline("synthetic:32x32@30:0.2", loop=True, max_frames=20).run()
        assert (report.frames_processed, report.loops, report.to_dict()["loops"]) == (20, 3, 3)

    def test_a_camera_cannot_loop(self):
        """Said when the pipeline is built, before anything opens."""
        with pytest.raises(ValueError, match=r"^loop: 0 is live and cannot start again$"):
            Pipeline(0, loop=True)
