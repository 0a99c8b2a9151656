"""Tests for framepipe.pipeline.runner: the Pipeline frame loop end to end, with real sources."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from framepipe.pipeline import (
    Pipeline,
    PipelineError,
    PipelineReport,
    Source,
    SourceError,
    SourceInfo,
)
from framepipe.pipeline.runner import resolve_processor
from video_files import count_frames, write_video


def log_text(log_dir: Path) -> str:
    return "".join(path.read_text() for path in sorted(log_dir.glob("logs_*.txt*")))


class ManualClock:
    """A clock shared by the reader and the loop; only the processor moves it."""

    def __init__(self) -> None:
        self.now = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


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
        deadline = time.monotonic() + 10
        while source.reads < target and time.monotonic() < deadline:
            time.sleep(0.0005)
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

        report = Pipeline(str(clip), processor=record, log_dir=tmp_path / "logs").run()
        assert isinstance(report, PipelineReport)
        assert (report.frames_read, report.frames_processed, report.frames_dropped) == (40, 40, 0)
        assert seen == [(48, 64, 3)] * 40
        assert report.source == "clip.avi"
        assert report.processor == "record"
        assert report.end_reason == "end"
        assert report.drop_policy == "block"  # files default to every frame

    def test_stops_after_max_frames(self, tmp_path: Path):
        """max_frames=7 on a 300-frame scene processes and reads exactly 7 frames."""
        report = Pipeline("synthetic:64x48@30:10", max_frames=7, log_dir=tmp_path / "logs").run()
        assert (report.frames_read, report.frames_processed) == (7, 7)
        assert report.end_reason == "max_frames"

    def test_logs_every_nth_frame_with_time_and_budget(self, tmp_path: Path):
        """log_every=10 over 25 frames logs frames 0, 10 and 20, each with its time and verdict."""
        logs = tmp_path / "logs"
        Pipeline("synthetic:64x48@30:25", max_frames=25, log_every=10, log_dir=logs).run()
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
            IndexSource(12), processor=slow_on_some, clock=clock, budget_ms=10.0, log_dir=logs
        ).run()
        assert report.budget_misses == 6
        assert report.longest_miss_streak == 6
        warnings = [line for line in log_text(logs).splitlines() if "WARNING" in line]
        assert len(warnings) == 2
        assert "budget missed 5 frames in a row" in warnings[0]
        assert "miss streak ended after 6 frames" in warnings[1]

    def test_budget_defaults_to_the_source_frame_period(self, tmp_path: Path):
        """A 20 FPS source gets a 50 ms budget unless one is given."""
        report = Pipeline("synthetic:32x32@20:0.2", log_dir=tmp_path / "logs").run()
        assert report.budget_ms == 50.0
        given = Pipeline("synthetic:32x32@20:0.2", budget_ms=12.5, log_dir=tmp_path / "l2").run()
        assert given.budget_ms == 12.5

    def test_latest_policy_drops_and_counts_what_a_slow_loop_cannot_take(self, tmp_path: Path):
        """With a 3 ms processor and a fast source, frames are skipped, and every read frame is
        either processed or counted as dropped."""

        def slow(frame: np.ndarray) -> np.ndarray:
            time.sleep(0.003)
            return frame

        report = Pipeline(
            "synthetic:32x32@30:5", processor=slow, drop_policy="latest", log_dir=tmp_path / "l"
        ).run()
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
            log_dir=tmp_path / "l",
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
            deadline = time.monotonic() + 10
            while source.reads < 6 and time.monotonic() < deadline:
                time.sleep(0.0005)
            pipeline.stop()
            return frame

        pipeline = Pipeline(
            source,
            processor=stop_once_the_buffer_is_full,
            drop_policy="block",
            buffer_size=4,
            log_dir=tmp_path / "l",
        )
        report = pipeline.run()
        assert report.end_reason == "stopped"
        assert (report.frames_read, report.frames_processed, report.frames_dropped) == (5, 1, 4)

    def test_a_processor_list_runs_in_order(self, tmp_path: Path):
        """[gray, invert] gives the inverted gray frame; the name joins the parts."""

        def invert(frame: np.ndarray) -> np.ndarray:
            return 255 - frame

        out = tmp_path / "out.avi"
        report = Pipeline(
            "synthetic:64x48@10:1", processor=["gray", invert], output=out, log_dir=tmp_path / "l"
        ).run()
        assert report.processor == "gray+invert"
        assert report.frames_written == 10
        assert count_frames(out) == 10

    def test_writes_a_playable_output_with_every_processed_frame(self, tmp_path: Path):
        """--output: an MP4 with the processed frame count, the source size and frame rate."""
        out = tmp_path / "processed.mp4"
        Pipeline(
            "synthetic:96x64@15:2", processor="edges", output=out, log_dir=tmp_path / "l"
        ).run()
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
        report = Pipeline(source, log_dir=tmp_path / "logs").run()
        assert report.frames_processed == 5
        assert source.released

    def test_report_carries_the_logger_stats(self, tmp_path: Path):
        """report.log is the logger's get_stats() after the run's records were flushed."""
        report = Pipeline("synthetic:32x32@30:1", log_dir=tmp_path / "logs").run()
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
            Pipeline("synthetic:64x48@30:10", processor=explode, log_dir=logs).run()
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

    def test_frames_the_output_cannot_take_fail_the_run_and_none_count_as_written(
        self, tmp_path: Path
    ):
        """A processor returning float frames: the first write fails, naming what the writer
        takes, and the report says 0 frames written (it used to count every call)."""

        def to_float(frame: np.ndarray) -> np.ndarray:
            return frame.astype(np.float32) / 255.0

        out = tmp_path / "out.mp4"
        with pytest.raises(PipelineError, match=r"frames must be uint8 .* but got 8x8x3 float32"):
            Pipeline(IndexSource(15), processor=to_float, output=out, log_dir=tmp_path).run()
        assert not out.exists() or count_frames(out) == 0

    def test_bgra_frames_from_a_processor_are_all_written(self, tmp_path: Path):
        """Four-channel frames are converted; the file holds every processed frame."""

        def to_bgra(frame: np.ndarray) -> np.ndarray:
            return cv2.cvtColor(frame, cv2.COLOR_BGR2BGRA)

        out = tmp_path / "out.mp4"
        report = Pipeline(IndexSource(15), processor=to_bgra, output=out, log_dir=tmp_path).run()
        assert report.frames_written == count_frames(out) == 15

    def test_an_output_failure_is_reported_as_such(self, tmp_path: Path):
        """A processor that changes the frame size mid-run breaks the output, not the processor:
        the error names the output stage and the file keeps the frames written so far."""

        def grow_on_third(frame: np.ndarray) -> np.ndarray:
            return cv2.resize(frame, (80, 60)) if int(frame[0, 0, 0]) == 2 else frame

        out = tmp_path / "out.avi"
        with pytest.raises(PipelineError, match=r"^output failed on frame 2: OutputError: .*"):
            Pipeline(IndexSource(6), processor=grow_on_third, output=out, log_dir=tmp_path).run()
        assert count_frames(out) == 2

    def test_a_failing_progress_callback_is_logged_once_and_the_run_goes_on(
        self, tmp_path: Path
    ):
        """Progress drawn on a terminal that has gone away (EIO) must not end the run: the
        error is logged once and progress is off for the rest of the run."""
        calls = []

        def broken_terminal(progress: object) -> None:
            calls.append(progress)
            raise OSError(5, "Input/output error")

        logs = tmp_path / "logs"
        report = Pipeline("synthetic:32x32@30:1", progress=broken_terminal, log_dir=logs).run()
        assert report.frames_processed == 30
        assert len(calls) == 1
        assert log_text(logs).count("progress callback failed") == 1

    def test_stop_from_another_thread_ends_the_run(self, tmp_path: Path):
        """stop() called from a timer thread ends a long run with reason 'stopped'."""
        started = threading.Event()

        def mark(frame: np.ndarray) -> np.ndarray:
            started.set()
            return frame

        pipeline = Pipeline("synthetic:32x32@30:1000", processor=mark, log_dir=tmp_path / "l")
        stopper = threading.Thread(target=lambda: started.wait(10) and pipeline.stop())
        stopper.start()
        report = pipeline.run()
        stopper.join(10)
        assert report.end_reason == "stopped"
        assert 0 < report.frames_processed < 30_000

    def test_a_source_that_does_not_open_creates_no_log_file(self, tmp_path: Path):
        """The source is opened before the logger is configured: a file that is not a video
        raises SourceError and leaves no empty log behind."""
        fake = tmp_path / "fake.mp4"
        fake.write_text("not a video\n")
        with pytest.raises(SourceError, match="not a video file"):
            Pipeline(str(fake), log_dir=tmp_path / "logs").run()
        assert not (tmp_path / "logs").exists()

    def test_a_missing_file_is_a_source_error_before_anything_starts(self, tmp_path: Path):
        """The spec is checked in the constructor: no log file, no thread."""
        with pytest.raises(SourceError, match="no such file"):
            Pipeline(str(tmp_path / "missing.mp4"), log_dir=tmp_path / "logs")
        assert not (tmp_path / "logs").exists()

    def test_an_output_that_is_the_source_file_is_refused(self, tmp_path: Path):
        """Pipeline("clip.avi", output="clip.avi") would truncate its own input: ValueError,
        and the file is untouched."""
        clip = write_video(tmp_path / "clip.avi", frames=5)
        original = clip.read_bytes()
        (tmp_path / "alias.avi").symlink_to(clip)
        with pytest.raises(ValueError, match=r"output .*alias.avi is the source file"):
            Pipeline(str(clip), output=tmp_path / "alias.avi", log_dir=tmp_path / "logs")
        assert clip.read_bytes() == original

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"budget_ms": 0}, "budget_ms must be positive and finite, but got 0"),
            ({"budget_ms": float("inf")}, "budget_ms must be positive and finite, but got inf"),
            ({"log_every": 0}, "log_every must be a positive integer, but got 0"),
            ({"max_frames": -2}, "max_frames must be a positive integer, but got -2"),
            ({"drop_policy": "oldest"}, "drop_policy must be one of block, latest"),
            ({"log_mode": "fast"}, "log_mode must be 'async' or 'sync', but got 'fast'"),
            ({"processor": "sharpen"}, "unknown processor 'sharpen'"),
            ({"processor": 42}, "processor must be a callable, a built-in name or a list"),
            ({"processor": []}, "processor list must not be empty"),
            ({"output": "out.gif"}, "output file extension must be one of"),
        ],
    )
    def test_rejects_bad_options_with_value_errors(self, kwargs: dict[str, object], message: str):
        """Every bad option raises ValueError with expected-versus-actual text."""
        with pytest.raises(ValueError, match=message):
            Pipeline("synthetic", **kwargs)  # type: ignore[arg-type]


class TestResolveProcessor:
    def test_none_is_the_identity(self):
        """No processor passes frames through and is reported as 'none'."""
        fn, name = resolve_processor(None)
        frame = np.zeros((2, 2, 3), np.uint8)
        assert fn(frame) is frame
        assert name == "none"

    def test_a_step_returning_none_leaves_the_frame_unchanged(self):
        """In-place processors may return None; the chain continues with the same frame."""

        def in_place(frame: np.ndarray) -> None:
            frame += 1

        fn, _ = resolve_processor([in_place, in_place])
        frame = np.zeros((2, 2), np.uint8)
        result = fn(frame)
        assert result is not None
        assert int(result[0, 0]) == 2
