"""The video file output: processed frames written with ``cv2.VideoWriter``.

The codec follows the file extension, the frame rate is the source's and the size is the first
processed frame's. Gray frames (``gray``, ``edges``) are converted to BGR, because most players
and containers expect three channels. ``close()`` finalises the container (an MP4 is unplayable
until its index is written), so callers close it in ``finally``.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType

import cv2

from framepipe.pipeline.sources import Frame

__all__ = ["CODECS", "OutputError", "VideoOutput", "check_output_path"]

# extension -> FourCC: codecs that OpenCV's FFmpeg backend writes without extra libraries.
CODECS = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}


class OutputError(Exception):
    """The output video cannot be written; ``str(error)`` is a one-line user-facing message."""


def check_output_path(path: str | os.PathLike[str]) -> Path:
    """Return ``path`` as a Path; ValueError when its extension or directory cannot work."""
    out = Path(path)
    suffix = out.suffix.lower()
    if suffix not in CODECS:
        raise ValueError(
            f"output file extension must be one of {', '.join(CODECS)}, but got {out.name!r}"
        )
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise ValueError(f"output directory must exist, but {str(parent)!r} does not")
    if out.is_dir():
        raise ValueError(f"output must be a file, but {str(out)!r} is a directory")
    return out


class VideoOutput:
    """Writes frames to a video file; opened on the first frame, closed by ``close()``."""

    def __init__(self, path: str | os.PathLike[str], fps: float) -> None:
        self.path = check_output_path(path)
        if not fps > 0:
            raise ValueError(f"fps must be positive, but got {fps}")
        self.fps = float(fps)
        self.fourcc = CODECS[self.path.suffix.lower()]
        self.size: tuple[int, int] | None = None
        self.frames_written = 0
        self._writer: cv2.VideoWriter | None = None
        self._closed = False

    def write(self, frame: Frame) -> None:
        """Append one frame (BGR or gray, uint8); every frame must have the first one's size."""
        if self._closed:
            raise OutputError(f"cannot write to {self.path}: the output is closed")
        if frame.ndim == 2 or (frame.ndim == 3 and frame.shape[2] == 1):
            frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
        size = (int(frame.shape[1]), int(frame.shape[0]))
        if self._writer is None:
            self._writer = self._open(size)
            self.size = size
        elif size != self.size:
            (w0, h0), (w1, h1) = self.size or size, size
            raise OutputError(
                f"cannot write to {self.path}: frame size changed from {w0}x{h0} to {w1}x{h1}"
            )
        self._writer.write(frame)
        self.frames_written += 1

    def _open(self, size: tuple[int, int]) -> cv2.VideoWriter:
        writer = cv2.VideoWriter(
            str(self.path), cv2.VideoWriter.fourcc(*self.fourcc), self.fps, size
        )
        if not writer.isOpened():
            raise OutputError(f"cannot write video {self.path} (codec {self.fourcc} did not open)")
        return writer

    def close(self) -> None:
        """Finalise the file so it plays; idempotent."""
        self._closed = True
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.release()

    def __enter__(self) -> VideoOutput:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
