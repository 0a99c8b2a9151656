"""LiveWindow and PipelineSnapshot: the run's recent frames, readable from any thread."""

from __future__ import annotations

import dataclasses
import pickle
import subprocess
import sys
import threading

import numpy as np
import pytest

from framepipe.pipeline.live import FPS_WINDOW_S, LiveWindow
from framepipe.pipeline.status import RunStatus

FRAME = np.zeros((2, 2, 3), dtype=np.uint8)


class TestLiveWindow:
    def test_an_empty_window_reports_zeros(self) -> None:
        """Before the first frame the percentiles and the rate are zero and there is no frame."""
        window = LiveWindow(10)
        assert window.frame_ms() == {"p50": 0.0, "p99": 0.0, "max": 0.0}
        assert window.frame_age_ms() == {"p50": 0.0, "p99": 0.0}
        assert window.fps(now=5.0) == 0.0
        assert window.last_finished_at is None
        assert window.latest_frame is None

    def test_percentiles_cover_only_the_last_frames(self) -> None:
        """Once full, the window forgets the oldest frames: p50 and max follow the newest."""
        window = LiveWindow(4)
        for i, ms in enumerate([100.0, 100.0, 1.0, 2.0, 3.0, 4.0]):
            window.publish(ms, ms / 2, finished_at=float(i), frame=FRAME)
        assert window.frame_ms()["max"] == 4.0
        assert window.frame_ms()["p50"] == 2.5
        assert window.frame_age_ms()["p50"] == 1.25
        assert window.count == 6
        assert window.last_finished_at == 5.0
        assert window.latest_frame is FRAME

    def test_fps_counts_frames_finished_in_the_last_two_seconds(self) -> None:
        """30 frames 1/30 s apart read as 30 FPS, however long the run was before."""
        window = LiveWindow(300)
        for i in range(300):
            window.publish(1.0, 1.0, finished_at=i / 30, frame=FRAME)
        last = 299 / 30
        assert window.fps(now=last) == pytest.approx(30.0, rel=0.01)

    def test_fps_decays_to_zero_when_frames_stop(self) -> None:
        """A source that stops delivering shows a falling rate, then zero."""
        window = LiveWindow(300)
        for i in range(60):
            window.publish(1.0, 1.0, finished_at=i / 30, frame=FRAME)
        last = 59 / 30
        assert window.fps(now=last + 1.0) < window.fps(now=last)
        assert window.fps(now=last + FPS_WINDOW_S + 0.1) == 0.0

    @pytest.mark.parametrize("size", [0, 1, True, 2.5])
    def test_size_must_be_an_integer_of_at_least_two(self, size: object) -> None:
        """A window too small for a percentile is refused with expected-versus-actual."""
        with pytest.raises(ValueError, match="at least 2, but got"):
            LiveWindow(size)  # type: ignore[arg-type]

    def test_reading_while_the_loop_publishes_never_fails(self) -> None:
        """A reader thread copying the rings during 20,000 publishes sees sane values only."""
        window = LiveWindow(300)
        errors: list[BaseException] = []
        done = threading.Event()

        def read() -> None:
            try:
                while not done.is_set():
                    assert window.frame_ms()["max"] <= 2.0
                    window.frame_age_ms()
                    window.fps(now=1e9)
            except BaseException as exc:
                errors.append(exc)

        reader = threading.Thread(target=read)
        reader.start()
        try:
            for i in range(20_000):
                window.publish(1.0 + (i % 2), 1.0, finished_at=i / 30, frame=FRAME)
        finally:
            done.set()
            reader.join(10)
        assert not reader.is_alive()
        assert errors == []


class TestPipelineSnapshot:
    def test_without_frame_is_the_same_snapshot_minus_its_frame(self) -> None:
        """What travels to another process: every figure, no frame; the original keeps it."""
        window = LiveWindow(4)
        window.publish(2.0, 3.0, finished_at=1.0, frame=FRAME)
        snapshot = RunStatus("cam").snapshot(1.5)
        snapshot = dataclasses.replace(snapshot, latest_frame=window.latest_frame)
        bare = snapshot.without_frame()
        assert bare.latest_frame is None and snapshot.latest_frame is FRAME
        assert bare == dataclasses.replace(snapshot, latest_frame=None)
        assert b"numpy" not in pickle.dumps(bare)

    def test_a_snapshot_unpickles_without_numpy_opencv_or_the_pipeline(self) -> None:
        """The stats server's process reads snapshots without importing the frame pipeline:
        a snapshot's class lives in a leaf module that needs nothing heavy."""
        data = pickle.dumps(RunStatus("cam", 33.3).snapshot(0.0).without_frame())
        code = (
            "import pickle, sys; snapshot = pickle.loads(sys.stdin.buffer.read()); "
            "heavy = [m for m in ('numpy', 'cv2', 'framepipe.pipeline') if m in sys.modules]; "
            "print(snapshot.source, snapshot.budget_ms, heavy)"
        )
        done = subprocess.run(
            [sys.executable, "-c", code], input=data, capture_output=True, timeout=60, check=True
        )
        assert done.stdout.decode().split() == ["cam", "33.3", "[]"]
