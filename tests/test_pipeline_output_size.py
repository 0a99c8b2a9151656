"""``--output`` takes the size of the processed frames, not the source's
(framepipe.pipeline.output with the frame loop): a processor may scale what it returns."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from framepipe.pipeline import Pipeline, PipelineError


def half(frame: np.ndarray) -> np.ndarray:
    return cv2.resize(frame, (frame.shape[1] // 2, frame.shape[0] // 2))


def test_a_processor_that_scales_frames_gets_a_video_of_its_size(tmp_path: Path) -> None:
    """Every frame halved: the file holds every frame, at half the source's size."""
    out = tmp_path / "o.avi"
    report = Pipeline("synthetic:64x48@30:1", processor=half, output=str(out)).run()
    capture = cv2.VideoCapture(str(out))
    try:
        size = (capture.get(cv2.CAP_PROP_FRAME_WIDTH), capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        capture.release()
    assert size == (32, 24)
    assert frames == report.frames_written == 30


def test_a_frame_of_another_size_than_the_first_fails_the_run(tmp_path: Path) -> None:
    """The file's size is fixed by the first processed frame; a later one of another size is
    an error naming both sizes, not a frame OpenCV would drop without a word."""
    calls = 0

    def shrink_later(frame: np.ndarray) -> np.ndarray:
        nonlocal calls
        calls += 1
        return half(frame) if calls > 3 else frame

    pipeline = Pipeline(
        "synthetic:64x48@30:1", processor=shrink_later, output=str(tmp_path / "o.avi")
    )
    with pytest.raises(PipelineError, match=r"output failed on frame 3: .*from 64x48 to 32x24"):
        pipeline.run()
