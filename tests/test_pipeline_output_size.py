"""``--output`` takes the source's size (framepipe.pipeline.output with the frame loop): a
processor that returns frames of another size is refused from its first frame, as documented."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from framepipe.pipeline import Pipeline, PipelineError
from framepipe.pipeline.output import OutputError, VideoOutput


def half(frame: np.ndarray) -> np.ndarray:
    return cv2.resize(frame, (frame.shape[1] // 2, frame.shape[0] // 2))


def test_an_output_is_opened_at_the_size_it_is_given(tmp_path: Path) -> None:
    """``size=`` fixes the file's size before the first frame: a first frame of another size
    is refused, naming both."""
    with VideoOutput(tmp_path / "out.avi", fps=30.0, size=(64, 48)) as output:
        with pytest.raises(OutputError, match=r"frame size 32x24 is not the output's 64x48"):
            output.write(np.zeros((24, 32, 3), np.uint8))
        output.write(np.zeros((48, 64, 3), np.uint8))
    assert output.size == (64, 48)
    assert output.frames_written == 1


def test_a_run_writes_at_the_sources_size_not_the_first_processed_frames(
    tmp_path: Path,
) -> None:
    """A processor that halves every frame: the run fails on frame 0 instead of writing a
    video of another size than the source."""
    pipeline = Pipeline("synthetic:64x48@30:1", processor=half, output=str(tmp_path / "o.avi"))
    with pytest.raises(PipelineError, match=r"output failed on frame 0: .*32x24.*64x48"):
        pipeline.run()
