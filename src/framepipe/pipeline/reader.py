"""The reader thread: the only code that touches the capture device.

It reads frames from a :class:`~framepipe.pipeline.sources.Source`, stamps each with its capture
time (for frame age), optionally paces a file as a camera would deliver it (each frame at its own
timestamp), and feeds a :class:`~framepipe.pipeline.buffer.FrameBuffer`. The end-of-stream marker
and the source release happen in ``finally``, so a failing read stops the consumer instead of
hanging it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from framepipe._closing import Closing
from framepipe.pipeline.buffer import FrameBuffer
from framepipe.pipeline.sources import Source, SourceError
from framepipe.typing import Frame

__all__ = ["CapturedFrame", "FrameReader"]


@dataclass(frozen=True)
class CapturedFrame:
    """One frame as read: its index in the source, pixels and capture time (reader's clock).

    The capture time is when the reader got the frame; when pacing a file in real time, it is
    when the frame was due (as a camera would have captured it), so that a decoder running late
    shows in the frame's age instead of being hidden by the pacing. For a live stream it is when
    the stream's own timestamps say the frame was made (see ``_SourceClock``), so a frame that
    waited in the network's or the decoder's buffers while the reader was held up carries that
    wait in its age.
    """

    index: int
    image: Frame
    captured_at: float


class FrameReader(Closing):
    """Reads ``source`` on a background thread into ``buffer`` until the end, a limit or stop().

    The reader owns the source from construction: its thread releases it when it ends, and
    :meth:`close` releases it when the thread never ran. As a context manager, leaving the
    ``with`` block calls ``close()`` (entering does not start the thread: ``start()`` does).
    """

    JOIN_TIMEOUT_S = 5.0

    def __init__(
        self,
        source: Source,
        buffer: FrameBuffer[CapturedFrame],
        *,
        realtime: bool = False,
        loop: bool = False,
        limit: int | None = None,
        clock: Callable[[], float] = time.perf_counter,
        sleep: Callable[[float], object] | None = None,
    ) -> None:
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be >= 0 or None, but got {limit}")
        self.source = source
        self.buffer = buffer
        self.realtime = realtime
        self.loop = loop
        self.limit = limit
        self._clock = clock
        self._stop = threading.Event()
        # Pacing waits on the stop event by default, so stop() interrupts a long frame interval.
        self._sleep = sleep if sleep is not None else self._stop.wait
        self._thread: threading.Thread | None = None
        self.frames_read = 0
        self.loops = 0  # times a looping source started again from its first frame
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

    def close(self, timeout: float = JOIN_TIMEOUT_S) -> bool:
        """Stop, wait up to ``timeout`` seconds, and make sure the source is released.

        True when the thread has ended. A thread still stuck in ``source.read()`` keeps the
        source (it releases it when the read returns): releasing it here would wait on the
        same read. Idempotent.
        """
        self.stop()
        stopped = self.join(timeout)
        if stopped and self._thread is None:
            self.source.release()  # the thread never ran, so nothing else will
        return stopped

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
        schedule = _Schedule(fps) if self.realtime else None
        made = _SourceClock() if self.source.info.is_live and schedule is None else None
        started: float | None = None
        pass_start = 0  # frames_read when the current pass over the source began
        while not self._stop.is_set():
            if self.limit is not None and self.frames_read >= self.limit:
                return
            reading = self._clock()
            image = self.source.read()
            if image is None:
                if not self.loop or self.frames_read == pass_start:
                    return  # the end; or a pass without a frame, which looping would repeat
                self._start_again()
                pass_start = self.frames_read
                if schedule is not None:
                    # The next pass goes on from where this one ended, a frame period later.
                    schedule = schedule.next_pass()
                continue
            index = self.frames_read
            captured_at = self._clock()
            if made is not None:
                captured_at = made.captured_at(
                    captured_at, self.source.timestamp_s, captured_at - reading
                )
            if schedule is not None:
                # The first frame sets the start; frame i is due at start + its offset, like a
                # camera; a late frame goes out at once but keeps its due time as capture time.
                started = captured_at if started is None else started
                captured_at = started + schedule.offset(self.source.timestamp_s)
                delay = captured_at - self._clock()
                if delay > 0:
                    self._sleep(delay)
                    if self._stop.is_set():
                        return
            if not self.buffer.put(CapturedFrame(index, image, captured_at)):
                return  # the consumer cancelled: this frame was never delivered, so not counted
            self.frames_read += 1

    def _start_again(self) -> None:
        """Loop: back to the source's first frame; SourceError when it cannot go back."""
        if not self.source.rewind():
            raise SourceError(f"{self.source.info.name} cannot start again from its first frame")
        self.loops += 1


class _Schedule:
    """When each frame of a paced file is due, in seconds after the first.

    By the frame's own timestamp, so a variable-frame-rate file keeps its timing; by the nominal
    rate where timestamps are missing or do not advance (a stream of unknown or repeated times).
    """

    def __init__(self, fps: float | None, start: float = 0.0) -> None:
        self._fps = fps
        self._interval = 1.0 / fps if fps else 0.0
        self._start = start
        self._first: float | None = None
        self._previous: float | None = None
        self._offset: float | None = None

    def next_pass(self) -> _Schedule:
        """The schedule of the source read again from its start: its first frame is due one
        frame period after this pass's last."""
        last = self._start if self._offset is None else self._offset
        return _Schedule(self._fps, last + self._interval)

    def offset(self, timestamp: float | None) -> float:
        if self._offset is None:
            self._first = self._previous = timestamp
            self._offset = self._start
        elif (
            timestamp is not None
            and self._first is not None
            and self._previous is not None
            and timestamp > self._previous
        ):
            self._offset = self._start + timestamp - self._first
            self._previous = timestamp
        else:
            self._offset += self._interval
        return self._offset


class _SourceClock:
    """When each frame of a live source was made, on the reader's clock, from its timestamps.

    The offset between the source's timestamps and our clock comes from frames known to be
    fresh: a frame the reader had to wait for (its read took at least half the time its
    timestamp says passed since the last frame) was not sitting in a buffer, so its arrival is
    when it was made. Between fresh frames the offset follows the least delayed frame (the
    smallest ``arrival - timestamp``, allowed to creep up by ``DRIFT`` seconds a second), so a
    frame that sat in a buffer while the reader was held up (the ``block`` policy behind a slow
    processor) is stamped when it was made, not when it was finally read: the lag shows in its
    age. Timestamps that run slow (a camera delivering 20 FPS while its stream says 30) show
    no false lag, as each of its frames is waited for. A frame is never stamped later than it
    arrived; timestamps that are missing, go back or stand still (a reconnect, a restarted
    camera) start the reckoning again from that frame.
    """

    DRIFT = 1e-4  # 100 ppm: 0.36 s an hour, far above real clock drift, far below real lag

    def __init__(self) -> None:
        self._offset: float | None = None
        self._previous: float | None = None
        self._since = 0.0

    def captured_at(self, arrival: float, timestamp: float | None, read_s: float) -> float:
        """The capture time of a frame that arrived at ``arrival`` after a read of ``read_s``."""
        previous, self._previous = self._previous, timestamp
        if timestamp is None or previous is None or timestamp <= previous or self._offset is None:
            self._offset = None if timestamp is None else arrival - timestamp
            self._since = arrival
            return arrival
        if read_s >= 0.5 * (timestamp - previous):  # waited for: fresh
            self._offset = arrival - timestamp
        else:
            allowed = self._offset + self.DRIFT * (arrival - self._since)
            self._offset = min(allowed, arrival - timestamp)
        self._since = arrival
        return min(arrival, timestamp + self._offset)
