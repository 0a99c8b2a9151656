"""Real video files and the ffmpeg binary for the tests: clips are written with OpenCV's
VideoWriter (or ffmpeg) in a temporary dir."""

from __future__ import annotations

import subprocess
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np

FOURCC_BY_SUFFIX = {".avi": "MJPG", ".mp4": "mp4v", ".mkv": "MJPG"}


def ffmpeg_exe() -> str:
    """The ffmpeg binary shipped by the ``imageio-ffmpeg`` package (never one on PATH), so the
    tests need no system package."""
    return imageio_ffmpeg.get_ffmpeg_exe()


def numbered_frame(index: int, width: int, height: int) -> np.ndarray:
    """A frame whose mean brightness encodes ``index`` (recoverable after lossy compression)."""
    level = (index * 37) % 200 + 30
    frame = np.full((height, width, 3), level, dtype=np.uint8)
    cv2.putText(frame, str(index), (2, height - 4), cv2.FONT_HERSHEY_PLAIN, 1, (0, 0, 0), 1)
    return frame


def write_video(
    path: Path, frames: int = 20, width: int = 64, height: int = 48, fps: float = 30.0
) -> Path:
    """Write ``frames`` numbered frames to ``path`` (codec from the suffix) and return the path."""
    fourcc = cv2.VideoWriter_fourcc(*FOURCC_BY_SUFFIX[path.suffix])
    writer = cv2.VideoWriter(str(path), fourcc, fps, (width, height))
    if not writer.isOpened():
        raise RuntimeError(f"test setup: VideoWriter did not open {path}")
    try:
        for index in range(frames):
            writer.write(numbered_frame(index, width, height))
    finally:
        writer.release()
    return path


def count_frames(path: Path) -> int:
    """Decode ``path`` to the end and count the frames (0 when it does not open)."""
    capture = cv2.VideoCapture(str(path))
    count = 0
    try:
        while capture.read()[0]:
            count += 1
    finally:
        capture.release()
    return count


def _ffmpeg(*args: str) -> None:
    subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *args],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip


def write_mpegts(path: Path, seconds: float = 1.0, fps: int = 30) -> Path:
    """A small MPEG-TS clip (what a network camera streams), made with ffmpeg."""
    _ffmpeg("-f", "lavfi", "-i", f"testsrc=size=64x48:rate={fps}:duration={seconds}",
            "-c:v", "mpeg2video", "-f", "mpegts", str(path))  # fmt: skip
    return path


def write_vfr_mkv(path: Path) -> Path:
    """A complete variable-frame-rate Matroska clip: 30 frames 1/30 s apart, then 10 frames
    0.1 s apart (40 frames over 1.9 s). Matroska stores no frame count, so the container's
    figure is an estimate (duration x nominal rate: 58) that overshoots."""
    timestamps = "if(lt(N,30),N/30,1+(N-30)/10)/TB"
    _ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=30", "-frames:v", "40",
            "-vf", f"setpts='{timestamps}'", "-fps_mode", "vfr", "-c:v", "mjpeg",
            str(path))  # fmt: skip
    return path
