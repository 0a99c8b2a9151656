"""Tests for framepipe.pipeline.reader: the reader thread feeding the frame buffer."""

from __future__ import annotations

import numpy as np
import pytest

from framepipe.pipeline.buffer import BufferClosed, FrameBuffer
from framepipe.pipeline.reader import CapturedFrame, FrameReader
from framepipe.pipeline.sources import Frame, Source, SourceInfo, open_source


class ManualClock:
    """A clock that moves only when told to; ``sleep`` advances it."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 9))
        self.now += seconds


class FailingSource(Source):
    """Yields ``good`` frames, then its read raises (a device unplugged mid-stream)."""

    def __init__(self, good: int) -> None:
        self.good = good
        self.released = False
        self.info = SourceInfo("failing", "camera", 30.0, 8, 8, None, True)

    def read(self) -> Frame | None:
        if self.good == 0:
            raise OSError("device unplugged")
        self.good -= 1
        return np.zeros((8, 8, 3), np.uint8)

    def release(self) -> None:
        self.released = True


def drain(buffer: FrameBuffer[CapturedFrame]) -> list[CapturedFrame]:
    frames = []
    while True:
        try:
            item = buffer.get(10.0)
        except BufferClosed:
            return frames
        assert item is not None, "reader stalled"
        frames.append(item)


class TestFrameReader:
    def test_delivers_every_frame_in_order_then_ends(self):
        """Under ``block`` the consumer sees frames 0..n-1 with their indices, then the end."""
        buffer: FrameBuffer[CapturedFrame] = FrameBuffer(2, "block")
        reader = FrameReader(open_source("synthetic:32x32@30:1"), buffer)
        reader.start()
        frames = drain(buffer)
        assert reader.join(5.0)
        assert [f.index for f in frames] == list(range(30))
        assert reader.frames_read == 30
        assert reader.error is None

    def test_stops_at_the_limit(self):
        """With a limit the reader reads exactly that many frames."""
        buffer: FrameBuffer[CapturedFrame] = FrameBuffer(4, "block")
        reader = FrameReader(open_source("synthetic:32x32@30:1"), buffer, limit=7)
        reader.start()
        assert len(drain(buffer)) == 7
        assert reader.join(5.0)
        assert reader.frames_read == 7

    def test_stamps_capture_time_from_the_injected_clock(self):
        """captured_at comes from the reader's clock at the moment the frame is handed over."""
        clock = ManualClock()
        buffer: FrameBuffer[CapturedFrame] = FrameBuffer(8, "block")
        reader = FrameReader(open_source("synthetic:32x32@30:0.1"), buffer, clock=clock)
        reader.start()
        frames = drain(buffer)
        assert {f.captured_at for f in frames} == {100.0}

    def test_realtime_paces_frames_at_the_source_rate(self):
        """--realtime delivers frame i at start + i/fps: waits of one frame period each."""
        clock = ManualClock()
        buffer: FrameBuffer[CapturedFrame] = FrameBuffer(8, "block")
        source = open_source("synthetic:32x32@20:0.25")  # 5 frames, 50 ms apart
        reader = FrameReader(source, buffer, realtime=True, clock=clock, sleep=clock.sleep)
        reader.start()
        frames = drain(buffer)
        assert clock.sleeps == [0.05, 0.05, 0.05, 0.05]
        assert [round(f.captured_at - 100.0, 6) for f in frames] == [0.0, 0.05, 0.1, 0.15, 0.2]

    def test_without_realtime_it_never_sleeps(self):
        """A file is read as fast as it decodes unless pacing is asked for."""
        clock = ManualClock()
        buffer: FrameBuffer[CapturedFrame] = FrameBuffer(8, "block")
        reader = FrameReader(open_source("synthetic:32x32@20:0.25"), buffer, sleep=clock.sleep)
        reader.start()
        drain(buffer)
        assert clock.sleeps == []

    def test_a_failing_read_ends_the_stream_and_is_reported(self):
        """An exception in read() closes the buffer (no hang), is kept, and the source released."""
        source = FailingSource(good=3)
        buffer: FrameBuffer[CapturedFrame] = FrameBuffer(8, "latest")
        reader = FrameReader(source, buffer)
        reader.start()
        assert len(drain(buffer)) == 3
        assert reader.join(5.0)
        assert isinstance(reader.error, OSError)
        assert source.released

    def test_stop_unblocks_a_reader_waiting_on_a_full_buffer(self):
        """With nobody consuming, stop() ends the reader promptly and releases the source."""
        source = open_source("synthetic:32x32@30:10")
        buffer: FrameBuffer[CapturedFrame] = FrameBuffer(1, "block")
        reader = FrameReader(source, buffer)
        reader.start()
        buffer.get(5.0)  # the reader is running
        reader.stop()
        assert reader.join(5.0)
        assert source.read() is None  # released

    def test_start_twice_is_an_error(self):
        """A reader runs once; a second start() raises RuntimeError."""
        buffer: FrameBuffer[CapturedFrame] = FrameBuffer(1, "latest")
        reader = FrameReader(open_source("synthetic:32x32@30:0.1"), buffer)
        reader.start()
        with pytest.raises(RuntimeError, match="called twice"):
            reader.start()
        reader.stop()
        assert reader.join(5.0)
