"""The video file output: processed frames written with ``cv2.VideoWriter``.

The codec follows the file extension, the frame rate is the source's and the size is the first
processed frame's. The writer takes 8-bit BGR, so gray (``gray``, ``edges``) and BGRA frames are
converted; any other frame (another size, another dtype, another channel count) is refused with
an :class:`OutputError` rather than silently skipped by OpenCV.

A failed write is never reported as written: ``frames_written`` counts frames that reached the
file. The writer's own result, a check of the space left on the disk (before the first frame and
every few frames), and a check that the finished file opens catch a full disk, a file size limit
or a container whose index could not be written. ``close()`` finalises the container (an MP4 is
unplayable until its index is written), so callers close it in ``finally``.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType
from typing import Any

import cv2
import numpy as np

from framepipe._closing import Closing
from framepipe._paths import check_name, free_bytes
from framepipe.typing import Frame

__all__ = ["CODECS", "MIN_FREE_BYTES", "OutputError", "VideoOutput", "check_output_path"]

# extension -> FourCC: codecs that OpenCV's FFmpeg backend writes without extra libraries.
CODECS = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}

# Containers whose index states the exact frame count (read back to verify the finished file).
_EXACT_COUNT = (".mp4", ".m4v", ".mov")

# FFmpeg buffers 256 KiB before writing to the file: starting needs room for two such writes.
MIN_FREE_BYTES = 512 * 1024
_SPACE_CHECK_EVERY = 16  # frames between checks of the space left on the disk


class OutputError(Exception):
    """The output video cannot be written; ``str(error)`` is a one-line user-facing message."""


def check_output_path(path: str | os.PathLike[str]) -> Path:
    """Return ``path`` as a Path; ValueError when its extension, name or directory cannot work."""
    out = Path(path)
    suffix = out.suffix.lower()
    if suffix not in CODECS:
        raise ValueError(
            f"output file extension must be one of {', '.join(CODECS)}, but got {out.name!r}"
        )
    check_name(str(out), "output")  # OpenCV crashes on a name that is not UTF-8
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise ValueError(f"output directory must exist, but {str(parent)!r} does not")
    if out.is_dir():
        raise ValueError(f"output must be a file, but {str(out)!r} is a directory")
    return out


class VideoOutput(Closing):
    """Writes frames to a video file; opened on the first frame, closed by ``close()``.

    ``frames_written`` counts the frames in the file. After a failed write the output is closed
    and every later write raises :class:`OutputError`.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        fps: float,
        *,
        min_free_bytes: int = MIN_FREE_BYTES,
    ) -> None:
        self.path = check_output_path(path)
        if not 0 < fps < float("inf"):
            raise ValueError(f"fps must be positive, but got {fps}")
        self.fps = float(fps)
        self.fourcc = CODECS[self.path.suffix.lower()]
        self.size: tuple[int, int] | None = None
        self.frames_written = 0
        self.failure: str | None = None  # why the file is incomplete, once it is known
        self._writer: cv2.VideoWriter | None = None
        self._closed = False
        free = self._free_bytes()
        if free is not None and free < min_free_bytes:
            raise OutputError(
                f"cannot write video {self.path}: no space left on device "
                f"({free // 1024} KiB free, {min_free_bytes // 1024} KiB needed to start)"
            )

    def write(self, frame: Frame) -> None:
        """Append one frame: uint8, BGR, gray or BGRA, every frame the first one's size."""
        if self._closed:
            reason = self.failure or "the output is closed"
            raise OutputError(f"cannot write to {self.path}: {reason}")
        frame = self._as_bgr(frame)
        size = (int(frame.shape[1]), int(frame.shape[0]))
        if self._writer is None:
            self._writer = self._open(size)
            self.size = size
        elif size != self.size:
            (w0, h0), (w1, h1) = self.size or size, size
            raise OutputError(
                f"cannot write to {self.path}: frame size changed from {w0}x{h0} to {w1}x{h1}"
            )
        # OpenCV 4.x returns None here; 5.x says whether the backend took the frame.
        accepted = self._writer.write(frame)
        if accepted is False:
            self._fail(f"the writer failed after {self.frames_written} frames{self._cause()}")
        self.frames_written += 1
        if self.frames_written % _SPACE_CHECK_EVERY == 0 and self._disk_full():
            self._fail(f"no space left on device after {self.frames_written} frames")

    def _as_bgr(self, frame: Any) -> Frame:
        """``frame`` as 3-channel uint8, or OutputError naming what was expected and got."""
        if not isinstance(frame, np.ndarray):
            raise OutputError(
                f"cannot write to {self.path}: frames must be numpy arrays, "
                f"but got {type(frame).__name__}"
            )
        channels = 1 if frame.ndim == 2 else frame.shape[2] if frame.ndim == 3 else 0
        if frame.dtype != np.uint8 or channels not in (1, 3, 4) or 0 in frame.shape[:2]:
            shape = "x".join(str(n) for n in frame.shape)
            raise OutputError(
                f"cannot write to {self.path}: frames must be uint8 gray, BGR or BGRA "
                f"(HxW, HxWx1, HxWx3 or HxWx4), but got {shape} {frame.dtype}"
            )
        if channels == 1:
            return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
        if channels == 4:
            return cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
        return frame

    def _open(self, size: tuple[int, int]) -> cv2.VideoWriter:
        writer = cv2.VideoWriter(
            str(self.path), cv2.VideoWriter.fourcc(*self.fourcc), self.fps, size
        )
        if not writer.isOpened():
            raise OutputError(f"cannot write video {self.path} (codec {self.fourcc} did not open)")
        return writer

    def close(self) -> None:
        """Finalise the file so it plays; idempotent.

        Raises OutputError (once) when the finished file does not hold the frames written:
        the container's index could not be written, typically because the disk is full.
        """
        if self._closed:
            return
        self._closed = True
        writer, self._writer = self._writer, None
        if writer is None:
            return
        writer.release()
        in_file = self._frames_in_file()
        if in_file is None or in_file >= self.frames_written:
            return
        attempted, self.frames_written = self.frames_written, in_file
        self.failure = (
            f"finishing the file failed{self._cause()}: {in_file} of {attempted} frames are in it"
        )
        raise OutputError(f"cannot write video {self.path}: {self.failure}")

    def _fail(self, what: str) -> None:
        """Close the file after a failed write, count what reached it, raise OutputError."""
        attempted = self.frames_written
        self._closed = True
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.release()
        self.frames_written = self._count_decodable(limit=attempted + 1)
        self.failure = f"{what}; {self.frames_written} frames are in the file"
        raise OutputError(f"cannot write video {self.path}: {self.failure}")

    def _frames_in_file(self) -> int | None:
        """Frames in the finished file: 0 when it does not open, its index's count where that
        is exact, None when the container does not say (the writer's word is taken)."""
        capture = cv2.VideoCapture(str(self.path))
        try:
            if not capture.isOpened():
                return 0
            if self.path.suffix.lower() not in _EXACT_COUNT:
                return None
            count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
            return count if count >= 0 else 0
        finally:
            capture.release()

    def _count_decodable(self, limit: int) -> int:
        """Frames that decode from the start of the (possibly cut short) file, up to ``limit``."""
        capture = cv2.VideoCapture(str(self.path))
        count = 0
        try:
            while count < limit and capture.isOpened() and capture.grab():
                count += 1
        finally:
            capture.release()
        return count

    def _free_bytes(self) -> int | None:
        try:
            return free_bytes(self.path.parent if str(self.path.parent) else Path("."))
        except OSError:
            return None

    def _disk_full(self) -> bool:
        free = self._free_bytes()
        return free is not None and free < _block_size(self.path)

    def _cause(self) -> str:
        """The likely reason a write failed, for the message (empty when unknown)."""
        if self._disk_full():
            return " (no space left on device)"
        limit = _file_size_limit()
        try:
            size = self.path.stat().st_size
        except OSError:
            return ""
        if limit is not None and size + MIN_FREE_BYTES > limit:
            return f" (file size limit of {limit} bytes reached)"
        return " (disk full or I/O error)"

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.close()
        except OutputError:
            if exc is None:
                raise  # an error already on its way out matters more; self.failure keeps this


def _block_size(path: Path) -> int:
    try:
        return os.statvfs(path.parent if str(path.parent) else ".").f_frsize
    except (OSError, AttributeError):  # AttributeError: no statvfs on this system
        return 4096


def _file_size_limit() -> int | None:
    """The soft RLIMIT_FSIZE (``ulimit -f``) in bytes, None when unlimited or unknown."""
    try:
        import resource
    except ImportError:
        return None
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    return None if limit == resource.RLIM_INFINITY else limit
