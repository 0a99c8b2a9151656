"""The latest frame as JPEG, encoded at most a few times a second however many clients ask."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from framepipe.typing import Frame

__all__ = ["MIN_INTERVAL_S", "JpegCache"]

MIN_INTERVAL_S = 0.25  # at most 4 encodes a second
QUALITY = 80


class JpegCache:
    """Encodes the latest frame at most once per ``min_interval_s``, and each frame only once.

    A request within ``min_interval_s`` of the last encode, or for the frame already encoded,
    gets the cached bytes. The frame loop never calls it, so it never waits on its lock.
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
        self._encoded_at = float("-inf")
        self.encodes = 0  # how many times a frame was encoded, for tests and curiosity

    def get(self, frame: Frame | None) -> bytes | None:
        """JPEG of ``frame``, or of one at most ``min_interval_s`` older; None before any."""
        with self._lock:
            if frame is None or frame is self._frame:
                return self._jpeg
            now = self._clock()
            if self._jpeg is not None and now - self._encoded_at < self._min_interval_s:
                return self._jpeg
            jpeg = _encode(frame, self._quality)
            if jpeg is not None:
                self._frame, self._jpeg, self._encoded_at = frame, jpeg, now
                self.encodes += 1
            return self._jpeg


def _encode(frame: Frame, quality: int) -> bytes | None:
    """JPEG of an 8-bit image; other depths (a float processor output) are scaled to 8 bits."""
    import cv2  # only when a frame is shown: a logging-only server never loads OpenCV
    import numpy as np

    image = frame if frame.dtype == np.uint8 else cv2.convertScaleAbs(frame)
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return bytes(buffer) if ok else None
