"""Real video files and the ffmpeg binary for the tests: clips are written with OpenCV's
VideoWriter (or ffmpeg) in a temporary dir."""

from __future__ import annotations

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
