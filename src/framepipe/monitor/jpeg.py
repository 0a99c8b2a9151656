"""The latest frame as JPEG, encoded at most a few times a second however many clients ask."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from framepipe.typing import Frame

__all__ = ["MIN_INTERVAL_S", "JpegCache", "PreviewError"]

MIN_INTERVAL_S = 0.25  # at most 4 encodes a second
QUALITY = 80
_CHANNELS = (1, 3, 4)  # what OpenCV's JPEG encoder takes (4: BGRA, its alpha dropped)


class PreviewError(ValueError):
    """The latest frame cannot be shown as a JPEG (a processor returned something that is not
    an image); the message says why."""


class JpegCache:
    """Encodes the latest frame at most once per ``min_interval_s``, and each frame only once.

    A request within ``min_interval_s`` of the last encode, or for the frame already encoded,
    gets the cached outcome: the bytes, or the :class:`PreviewError` of a frame that is no
    image. The frame loop never calls it, so it never waits on its lock.
    """

    def __init__(
        self,
        min_interval_s: float = MIN_INTERVAL_S,
        quality: int = QUALITY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not min_interval_s >= 0:
            raise ValueError(f"min_interval_s must be 0 or more, but got {min_interval_s!r}")
        if not 1 <= quality <= 100:
            raise ValueError(f"quality must be between 1 and 100, but got {quality!r}")
        self._min_interval_s = min_interval_s
        self._quality = quality
        self._clock = clock
        self._lock = threading.Lock()
        self._frame: Any = None  # the frame object last encoded (identity only)
        self._jpeg: bytes | None = None
        self._error: str | None = None  # why the frame last tried could not be encoded
        self._encoded_at = float("-inf")
        self.encodes = 0  # how many times a frame was encoded, for tests and curiosity

    def get(self, frame: Frame | None) -> bytes | None:
        """JPEG of ``frame``, or of one at most ``min_interval_s`` older; None before any.

        Raises :class:`PreviewError` when that frame cannot be encoded.
        """
        with self._lock:
            now = self._clock()
            fresh = now - self._encoded_at < self._min_interval_s
            tried = self._jpeg is not None or self._error is not None
            if frame is not None and frame is not self._frame and not (tried and fresh):
                self._frame, self._encoded_at = frame, now
                try:
                    self._jpeg, self._error = _encode(frame, self._quality), None
                    self.encodes += 1
                except PreviewError as exc:
                    self._jpeg, self._error = None, str(exc)
            if self._error is not None:
                raise PreviewError(self._error)
            return self._jpeg


def _encode(frame: object, quality: int) -> bytes:
    """JPEG of an 8-bit image; other depths (a float processor output) are scaled to 8 bits.

    Raises :class:`PreviewError` for anything that is not an image with 1, 3 or 4 channels.
    """
    import cv2  # only when a frame is shown: a logging-only server never loads OpenCV
    import numpy as np

    if not isinstance(frame, np.ndarray):
        raise PreviewError(f"the frame is a {type(frame).__name__}, not an image array")
    if frame.size == 0:
        raise PreviewError(f"the frame is empty (shape {frame.shape})")
    channels = 1 if frame.ndim == 2 else frame.shape[2] if frame.ndim == 3 else None
    if channels not in _CHANNELS:
        raise PreviewError(f"the frame has shape {frame.shape}: an image has 1, 3 or 4 channels")
    try:
        image = frame if frame.dtype == np.uint8 else cv2.convertScaleAbs(frame)
        ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    except (cv2.error, TypeError, ValueError) as exc:  # a dtype OpenCV does not take
        raise PreviewError(
            f"OpenCV cannot encode a {frame.dtype} frame of shape {frame.shape}: "
            f"{' '.join(str(exc).split())}"
        ) from exc
    if not ok:
        raise PreviewError(f"OpenCV cannot encode a {frame.dtype} frame of shape {frame.shape}")
    return bytes(buffer)
