"""Tests for framepipe.pipeline.output: writing processed frames to a real video file."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from framepipe.pipeline.output import OutputError, VideoOutput, check_output_path
from framepipe.pipeline.synthetic import SyntheticScene, render_frame
from mounts import tmpfs
from video_files import count_frames

SCENE = SyntheticScene(640, 360, 30.0, 60.0)  # frames that compress poorly enough to fill a disk


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

    def test_bgra_frames_are_written_as_bgr(self, tmp_path: Path):
        """Four-channel frames are converted, and every one of them is in the file."""
        path = tmp_path / "bgra.mp4"
        with VideoOutput(path, fps=10.0) as output:
            for _ in range(12):
                output.write(np.full((32, 48, 4), (200, 100, 50, 255), np.uint8))
        assert output.frames_written == 12
        assert count_frames(path) == 12

    @pytest.mark.parametrize(
        ("frame", "got"),
        [
            (np.zeros((40, 56, 3), np.float32), "40x56x3 float32"),
            (np.zeros((40, 56, 3), np.uint16), "40x56x3 uint16"),
            (np.zeros((40, 56, 2), np.uint8), "40x56x2 uint8"),
            (np.zeros((40, 56, 3, 1), np.uint8), "40x56x3x1 uint8"),
            (np.zeros((0, 56, 3), np.uint8), "0x56x3 uint8"),
        ],
        ids=["float32", "uint16", "two-channels", "four-dimensions", "empty"],
    )
    def test_frames_the_writer_cannot_take_are_refused_not_counted(
        self, tmp_path: Path, frame: np.ndarray, got: str
    ):
        """OpenCV skips such frames silently; here they are an OutputError saying what was
        expected and what came, and nothing is counted as written."""
        with VideoOutput(tmp_path / "out.mp4", fps=10.0) as output, pytest.raises(
            OutputError
        ) as caught:
            output.write(frame)
        assert str(caught.value).endswith(
            f"frames must be uint8 gray, BGR or BGRA (HxW, HxWx1, HxWx3 or HxWx4), but got {got}"
        )
        assert output.frames_written == 0

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


class TestFullDisk:
    def test_too_little_free_space_is_refused_before_the_first_frame(self, tmp_path: Path):
        """A 200 KiB file system cannot take a video: OutputError at once, no file."""
        with tmpfs(tmp_path / "small", "200k") as small:
            with pytest.raises(OutputError, match=r"no space left on device .*KiB free"):
                VideoOutput(small / "out.avi", fps=30.0)
            assert not (small / "out.avi").exists()

    @pytest.mark.parametrize("suffix", [".avi", ".mp4"])
    def test_a_disk_that_fills_up_mid_run_stops_the_output_and_counts_what_is_in_it(
        self, tmp_path: Path, suffix: str
    ):
        """The disk fills while frames are written: OutputError naming the cause, and
        frames_written is what decodes from the file, not how many writes were made."""
        with tmpfs(tmp_path / "small", "700k") as small:
            path = small / f"out{suffix}"
            output = VideoOutput(path, fps=30.0)
            attempted, caught = 0, None
            for index in range(SCENE.frame_count):
                attempted += 1
                try:
                    output.write(render_frame(SCENE, index))
                except OutputError as exc:
                    caught = exc
                    break
            output.close()
            assert caught is not None, "the disk never filled up"
            assert "no space left on device" in str(caught)
            assert f"{output.frames_written} frames are in the file" in str(caught)
            assert output.frames_written < attempted
            assert count_frames(path) == output.frames_written
            with pytest.raises(OutputError, match="no space left on device"):
                output.write(render_frame(SCENE, 0))

    def test_an_mp4_whose_index_cannot_be_written_is_an_error_with_no_frames(
        self, tmp_path: Path
    ):
        """The disk fills after the last frame: the MP4 index is lost, so close() says so
        and counts 0 frames (the file does not play)."""
        with tmpfs(tmp_path / "small", "700k") as small:
            path = small / "out.mp4"
            output = VideoOutput(path, fps=30.0)
            for index in range(10):
                output.write(render_frame(SCENE, index))
            with open(small / "filler", "wb") as filler:
                try:
                    while True:
                        filler.write(b"\0" * 65536)
                        filler.flush()
                except OSError:
                    pass
            with pytest.raises(OutputError, match=r"finishing the file failed .*0 of 10 frames"):
                output.close()
            output.close()  # idempotent: the error is raised once
            assert output.frames_written == 0
            assert count_frames(path) == 0


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
