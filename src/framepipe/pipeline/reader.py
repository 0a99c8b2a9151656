"""The reader thread: the only code that touches the capture device.

It reads frames from a :class:`~framepipe.pipeline.sources.Source`, stamps each with its capture
time (for frame age), optionally paces a file at its native frame rate as a camera would deliver
it, and feeds a :class:`~framepipe.pipeline.buffer.FrameBuffer`. The end-of-stream marker and the
source release happen in ``finally``, so a failing read stops the consumer instead of hanging it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from framepipe.pipeline.buffer import FrameBuffer
from framepipe.pipeline.sources import Frame, Source

__all__ = ["CapturedFrame", "FrameReader"]


@dataclass(frozen=True)
class CapturedFrame:
    """One frame as read: its index in the source, pixels and capture time (reader's clock)."""

    index: int
    image: Frame
    captured_at: float


class FrameReader:
    """Reads ``source`` on a background thread into ``buffer`` until the end, a limit or stop()."""

    def __init__(
        self,
        source: Source,
        buffer: FrameBuffer[CapturedFrame],
        *,
        realtime: bool = False,
        limit: int | None = None,
        clock: Callable[[], float] = time.perf_counter,
        sleep: Callable[[float], object] | None = None,
    ) -> None:
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be >= 0 or None, but got {limit}")
        self.source = source
        self.buffer = buffer
        self.realtime = realtime
        self.limit = limit
        self._clock = clock
        self._stop = threading.Event()
        # Pacing waits on the stop event by default, so stop() interrupts a long frame interval.
        self._sleep = sleep if sleep is not None else self._stop.wait
        self._thread: threading.Thread | None = None
        self.frames_read = 0
        self.error: BaseException | None = None

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("FrameReader.start() called twice")
        self._thread = threading.Thread(target=self._run, name="framepipe-reader", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to finish; wakes it if it waits for buffer room. Idempotent."""
        self._stop.set()
        self.buffer.cancel()

    def join(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds; True when the thread has ended (or never started)."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def is_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        try:
            self._read_all()
        except BaseException as exc:  # handed to the consumer, which reports it
            self.error = exc
        finally:
            self.buffer.close()
            try:
                self.source.release()
            except Exception as exc:
                self.error = self.error or exc

    def _read_all(self) -> None:
        fps = self.source.info.fps
        interval = 1.0 / fps if self.realtime and fps else None
        started = self._clock()
        while not self._stop.is_set():
            if self.limit is not None and self.frames_read >= self.limit:
                return
            image = self.source.read()
            if image is None:
                return
            index = self.frames_read
            if interval is not None:
                # Deliver frame i at start + i/fps, like a camera; a late frame goes out at once.
                delay = started + index * interval - self._clock()
                if delay > 0:
                    self._sleep(delay)
                    if self._stop.is_set():
                        return
            if not self.buffer.put(CapturedFrame(index, image, self._clock())):
                return  # the consumer cancelled: this frame was never delivered, so not counted
            self.frames_read += 1
