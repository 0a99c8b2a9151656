"""Tests for framepipe.pipeline.container: telling a cut-off file from a complete one, on real
files made by OpenCV and ffmpeg."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from framepipe.pipeline.container import declared_length, is_cut_off
from video_files import ffmpeg_exe, write_mpegts, write_vfr_mkv, write_video


def _ffmpeg_mp4(path: Path, *flags: str) -> Path:
    subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
         "-i", "testsrc=size=64x48:rate=30:duration=1", "-c:v", "mpeg4", *flags, str(path)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return path


MAKERS: dict[str, Callable[[Path], Path]] = {
    "avi": lambda directory: write_video(directory / "clip.avi", frames=30),
    "mkv": lambda directory: write_video(directory / "clip.mkv", frames=30),
    "vfr-mkv": lambda directory: write_vfr_mkv(directory / "vfr.mkv"),
    "mp4": lambda directory: write_video(directory / "clip.mp4", frames=30),
    "faststart-mp4": lambda directory: _ffmpeg_mp4(
        directory / "fast.mp4", "-movflags", "+faststart"
    ),
    "fragmented-mp4": lambda directory: _ffmpeg_mp4(
        directory / "frag.mp4", "-movflags", "frag_keyframe+empty_moov"
    ),
}


@pytest.mark.parametrize("kind", list(MAKERS))
def test_a_complete_file_declares_exactly_its_length(tmp_path: Path, kind: str):
    """RIFF, ISO base media and Matroska files add up to their own size: not cut off."""
    path = MAKERS[kind](tmp_path)
    assert declared_length(path) == path.stat().st_size
    assert not is_cut_off(path)


@pytest.mark.parametrize("kind", list(MAKERS))
@pytest.mark.parametrize("kept", [0.5, 0.97])
def test_a_file_missing_its_tail_is_cut_off(tmp_path: Path, kind: str, kept: float):
    """The same file with its end cut away (half of it, or the last few percent) is cut off."""
    data = MAKERS[kind](tmp_path).read_bytes()
    cut = tmp_path / f"cut-{kind}"
    cut.write_bytes(data[: int(len(data) * kept)])
    assert is_cut_off(cut)


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"", "empty"),
        (b"this is not a video\n", "text"),
        (b"RIFF\x00\x00\x00\x00AVI ", "a RIFF header whose size was never written"),
    ],
)
def test_a_file_that_declares_nothing_is_not_called_cut_off(
    tmp_path: Path, content: bytes, why: str
):
    """Formats and files that state no length are never reported as cut off."""
    path = tmp_path / "x.bin"
    path.write_bytes(content)
    assert declared_length(path) is None, why
    assert not is_cut_off(path)


def test_mpeg_ts_states_no_length(tmp_path: Path):
    """MPEG-TS is a stream of packets with no overall size: cannot tell, so not cut off."""
    data = write_mpegts(tmp_path / "clip.ts").read_bytes()
    half = tmp_path / "half.ts"
    half.write_bytes(data[: len(data) // 2])
    assert declared_length(half) is None
    assert not is_cut_off(half)


def test_a_missing_file_is_not_cut_off(tmp_path: Path):
    """An unreadable path is the opener's problem to report, not a cut-off file."""
    assert not is_cut_off(tmp_path / "nothing-here.mp4")
