"""Tests for framepipe.pipeline.output: writing processed frames to a real video file."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from framepipe.pipeline.output import OutputError, VideoOutput, check_output_path
from video_files import count_frames


class TestVideoOutput:
    @pytest.mark.parametrize("suffix", [".mp4", ".avi", ".mkv", ".mov"])
    def test_writes_a_readable_video_for_each_extension(self, tmp_path: Path, suffix: str):
        """Twelve frames in, twelve frames decoded back, at the given size and frame rate."""
        path = tmp_path / f"out{suffix}"
        with VideoOutput(path, fps=24.0) as output:
            for index in range(12):
                output.write(np.full((40, 56, 3), index * 10, np.uint8))
        assert output.frames_written == 12
        assert count_frames(path) == 12
        capture = cv2.VideoCapture(str(path))
        try:
            assert (
                capture.get(cv2.CAP_PROP_FRAME_WIDTH),
                capture.get(cv2.CAP_PROP_FRAME_HEIGHT),
            ) == (
                56,
                40,
            )
            assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(24.0)
        finally:
            capture.release()

    def test_gray_frames_become_three_channel_video(self, tmp_path: Path):
        """Single-channel frames (gray, edges) are converted to BGR and keep their brightness."""
        path = tmp_path / "gray.avi"
        with VideoOutput(path, fps=10.0) as output:
            for _ in range(3):
                output.write(np.full((32, 32), 200, np.uint8))
        capture = cv2.VideoCapture(str(path))
        ok, frame = capture.read()
        capture.release()
        assert ok
        assert frame.shape == (32, 32, 3)
        assert abs(int(frame.mean()) - 200) <= 3

    def test_a_size_change_mid_stream_is_an_output_error(self, tmp_path: Path):
        """A video has one size; a different frame raises OutputError naming both sizes."""
        with VideoOutput(tmp_path / "out.avi", fps=10.0) as output:
            output.write(np.zeros((20, 30, 3), np.uint8))
            with pytest.raises(OutputError, match="frame size changed from 30x20 to 40x20"):
                output.write(np.zeros((20, 40, 3), np.uint8))

    def test_close_is_idempotent_and_later_writes_fail(self, tmp_path: Path):
        """close() twice is fine; writing after close is an OutputError, not a crash."""
        output = VideoOutput(tmp_path / "out.avi", fps=10.0)
        output.write(np.zeros((16, 16, 3), np.uint8))
        output.close()
        output.close()
        with pytest.raises(OutputError, match="the output is closed"):
            output.write(np.zeros((16, 16, 3), np.uint8))
        assert count_frames(tmp_path / "out.avi") == 1

    def test_nothing_written_means_no_file(self, tmp_path: Path):
        """The file is created on the first frame, so a run with no frames leaves nothing."""
        VideoOutput(tmp_path / "out.mp4", fps=30.0).close()
        assert not (tmp_path / "out.mp4").exists()


class TestCheckOutputPath:
    @pytest.mark.parametrize(
        ("name", "message"),
        [
            ("clip.gif", "output file extension must be one of .mp4, .m4v, .mov, .avi, .mkv"),
            ("clip", "output file extension must be one of"),
            ("missing/clip.mp4", "output directory must exist, but"),
        ],
    )
    def test_rejects_paths_that_cannot_work(self, tmp_path: Path, name: str, message: str):
        """Unknown extensions and missing directories fail before any frame is read."""
        with pytest.raises(ValueError, match=message):
            check_output_path(tmp_path / name)

    def test_rejects_a_non_positive_fps(self, tmp_path: Path):
        """The frame rate must be positive."""
        with pytest.raises(ValueError, match="fps must be positive, but got 0"):
            VideoOutput(tmp_path / "a.avi", fps=0)
