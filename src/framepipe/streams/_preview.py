"""A worker's previews: its latest frame as JPEG, sent to the supervisor only while watched.

Frames never leave a worker otherwise. When the stats server has a client for a stream, the
supervisor passes ``PREVIEW`` on; the worker then encodes its latest frame at most four times a
second (OpenCV releases the GIL while it encodes, off the frame loop's thread) for
:data:`PREVIEW_WANTED_S` seconds after the last ask, and sends each new one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from framepipe.monitor.jpeg import JpegCache, PreviewError
from framepipe.streams._messages import Preview

if TYPE_CHECKING:
    from framepipe.streams._messages import WorkerMessage
    from framepipe.typing import Frame

__all__ = ["PREVIEW_WANTED_S", "PreviewSender"]

PREVIEW_WANTED_S = 2.0


class _Channel(Protocol):
    def send(self, message: WorkerMessage) -> bool: ...


class PreviewSender:
    """``want()`` from the thread reading the supervisor; ``tick()`` from the snapshot sender."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._cache = JpegCache(clock=clock)
        self._wanted_until = float("-inf")  # one float store: safe from another thread
        self._sent: bytes | str | None = None  # the JPEG or the error last sent

    def want(self) -> None:
        self._wanted_until = self._clock() + PREVIEW_WANTED_S

    def tick(self, frame: Frame | None, channel: _Channel) -> None:
        """Send a preview of ``frame`` if one is wanted and it is new."""
        if self._clock() > self._wanted_until:
            return
        try:
            jpeg, error = self._cache.get(frame), None
        except PreviewError as exc:  # the processor's output is no image: say why, once
            jpeg, error = None, str(exc)
        news: bytes | str | None = error if error is not None else jpeg
        if news is None or news is self._sent or (error is not None and error == self._sent):
            return
        if channel.send(Preview(jpeg, error)):
            self._sent = news
