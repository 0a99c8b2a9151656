"""Tests for framepipe.bench.workload: frames decoded once into memory, and the processor."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from framepipe.bench.workload import Workload
from framepipe.pipeline.sources import SourceError
from video_files import write_video


def test_decodes_at_most_the_pool_from_the_synthetic_scene() -> None:
    """A 20-frame scene with a pool of 4 keeps the first 4 frames, at the scene's size."""
    workload = Workload.load("synthetic:64x48@10:2", "edges", frames=300, pool=4)
    assert len(workload.frames) == 4
    assert workload.shape == (48, 64, 3)
    # the scene moves, so the kept frames are distinct decoded frames, not one frame repeated
    assert not np.array_equal(workload.frames[0], workload.frames[3])


def test_decodes_no_more_frames_than_a_run_needs() -> None:
    """With fewer frames per run than the pool, only that many are decoded."""
    workload = Workload.load("synthetic:64x48@10:2", "gray", frames=3, pool=30)
    assert len(workload.frames) == 3


def test_a_short_video_file_gives_all_its_frames(tmp_path: Path) -> None:
    """A real file shorter than the pool is decoded to its end; the loop cycles it later."""
    path = write_video(tmp_path / "clip.avi", frames=6)
    workload = Workload.load(str(path), "none", frames=100, pool=30)
    assert len(workload.frames) == 6
    assert workload.shape == (48, 64, 3)


def test_the_processor_is_the_named_builtin() -> None:
    """``edges`` turns a BGR frame into a single-channel edge map of the same size."""
    workload = Workload.load("synthetic:64x48@10:1", "edges", frames=1)
    output = workload.processor(workload.frames[0])
    assert output.shape == (48, 64)
    assert workload.processor_name == "edges"
    assert workload.source == "synthetic:64x48@10:1"


def test_an_unknown_processor_is_a_value_error() -> None:
    """A processor name that does not exist fails before any frame is decoded."""
    with pytest.raises(ValueError, match="unknown processor 'sharpen'"):
        Workload.load("synthetic:64x48@10:1", "sharpen", frames=1)


def test_a_missing_file_is_the_source_error(tmp_path: Path) -> None:
    """The source's own one-line error reaches the caller unchanged."""
    with pytest.raises(SourceError, match="no such file"):
        Workload.load(str(tmp_path / "missing.mp4"), "none", frames=1)


@pytest.mark.parametrize(("frames", "pool"), [(0, 1), (1, 0)])
def test_rejects_empty_sizes(frames: int, pool: int) -> None:
    """Zero frames or a zero pool is a ValueError."""
    with pytest.raises(ValueError, match="must be at least 1"):
        Workload.load("synthetic:64x48@10:1", "none", frames=frames, pool=pool)


def test_warm_up_runs_the_processor_untimed() -> None:
    """Warm-up calls the processor the requested number of times, cycling the frames."""
    seen: list[int] = []
    frames = [np.full((2, 2), value, np.uint8) for value in range(3)]
    workload = Workload(frames, lambda frame: seen.append(int(frame[0, 0])), "mem", "custom")
    workload.warm_up(count=5)
    assert seen == [0, 1, 2, 0, 1]
