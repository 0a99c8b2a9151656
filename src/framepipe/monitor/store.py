"""The server's side of the pipe: the latest reading, the watched process's clock, the frame.

The clock of the watched process is carried forward from the last reading: ``now`` is the
reading's ``published_at`` plus the time since it arrived. So a process that stops sending
(stuck, or starved of CPU) looks exactly like what it is, a stream whose last frame keeps aging.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from framepipe._snapshot import PipelineSnapshot
from framepipe.monitor.jpeg import PreviewError
from framepipe.monitor.providers import default_stall_s
from framepipe.monitor.reading import Reading

__all__ = ["FRAME_WAIT_S", "ReadingError", "Store", "View"]

FRAME_WAIT_S = 1.0  # how long a frame request waits for the watched process to encode one
FRAME_FRESH_S = 2.0  # a frame older than this is not served without asking for a new one


class ReadingError(Exception):
    """The watched process could not read its streams; the message says why."""


@dataclass(frozen=True)
class View:
    """The latest reading and the current time on the watched process's clock."""

    reading: Reading
    now: float

    @property
    def first_stream(self) -> PipelineSnapshot | None:
        """The stream a single-stream answer is about: the first one."""
        first = next(iter(self.reading.streams.values()), None)
        return None if first is None else first.snapshot


class Store:
    """Written by the thread reading the pipe, read by every request thread."""

    def __init__(
        self,
        stall_s: float | None = None,
        want_frames: Callable[[str], None] = lambda stream: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stall_s = stall_s
        self._want_frames = want_frames
        self._clock = clock
        self._changed = threading.Condition()
        self._reading = Reading(published_at=0.0)
        self._received_at = clock()
        self._jpegs: dict[str, bytes] = {}  # per stream, its latest frame as JPEG
        self._frame_errors: dict[str, str] = {}  # per stream, why its latest frame cannot show
        self._frame_at: dict[str, float] = {}  # when a stream's JPEG, or error, arrived

    def put(self, reading: Reading) -> None:
        with self._changed:
            self._reading = reading
            self._received_at = now = self._clock()
            for name, jpeg in reading.previews.items():
                self._jpegs[name] = jpeg
                self._frame_errors.pop(name, None)
                self._frame_at[name] = now
            for name, error in reading.preview_errors.items():  # an older picture is wrong
                self._jpegs.pop(name, None)
                self._frame_errors[name] = error
                self._frame_at[name] = now
            if reading.error is None:  # a stream that left the set takes its frame along
                for name in set(self._frame_at) - set(reading.streams):
                    self._jpegs.pop(name, None)
                    self._frame_errors.pop(name, None)
                    del self._frame_at[name]
            self._changed.notify_all()

    def view(self) -> View:
        """The latest reading; raises :class:`ReadingError` if the streams could not be read."""
        with self._changed:
            reading, received_at = self._reading, self._received_at
        if reading.error is not None:
            raise ReadingError(reading.error)
        return View(reading, reading.published_at + self._clock() - received_at)

    def stall_limit_s(self, stream: PipelineSnapshot) -> float:
        return self._stall_s if self._stall_s is not None else default_stall_s(stream.budget_ms)

    def stream_names(self) -> list[str]:
        with self._changed:
            return list(self._reading.streams)

    def jpeg(self, stream: str | None = None) -> bytes | None:
        """The latest frame of ``stream`` (default: the first) as JPEG, asking the watched
        process to keep them coming.

        A client after a quiet spell waits up to :data:`FRAME_WAIT_S` for a fresh one: frames
        are only encoded while someone is looking. Raises :class:`PreviewError` when the latest
        frame cannot be shown as JPEG.
        """
        if stream is None:
            names = self.stream_names()
            if not names:
                return None
            stream = names[0]
        self._want_frames(stream)
        asked_at = self._clock()
        deadline = asked_at + FRAME_WAIT_S
        with self._changed:
            while self._clock() - self._frame_at.get(stream, float("-inf")) > FRAME_FRESH_S:
                remaining = deadline - self._clock()
                if remaining <= 0 or (self._received_at > asked_at and not self._has_frame(stream)):
                    break  # out of time, or a reading since the request says there is no frame
                self._changed.wait(remaining)
            error = self._frame_errors.get(stream)
            if error is not None:
                raise PreviewError(error)
            return self._jpegs.get(stream)

    def _has_frame(self, stream: str) -> bool:
        reading = self._reading.streams.get(stream)
        return reading is not None and reading.snapshot.last_frame_at is not None
