"""Tests for framepipe.pipeline.reader: the reader thread feeding the frame buffer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from framepipe.pipeline.buffer import BufferClosed, FrameBuffer
from framepipe.pipeline.reader import CapturedFrame, FrameReader
from framepipe.pipeline.sources import Frame, Source, SourceInfo, open_source
from helpers import ManualClock
from video_files import write_vfr_mkv, write_video

SAMPLE = Path(__file__).resolve().parent.parent / "samples" / "sample.mp4"


class FailingSource(Source):
    """Yields ``good`` frames, then its read raises (a device unplugged mid-stream)."""

    def __init__(self, good: int, *, fail: bool = True) -> None:
        self.good = good
        self.fail = fail
        self.released = False
        self.info = SourceInfo("failing", "camera", 30.0, 8, 8, None, True)

    def read(self) -> Frame | None:
        if self.good == 0:
            if not self.fail:
                return None
            raise OSError("device unplugged")
        self.good -= 1
        return np.zeros((8, 8, 3), np.uint8)

    def release(self) -> None:
        self.released = True


class SlowDecoder(Source):
    """A real source whose every read takes ``decode_s`` on the manual clock (a decoder slower
    than the source's frame rate, as a 4K clip on a small machine)."""

    def __init__(self, source: Source, clock: ManualClock, decode_s: float) -> None:
        self.source, self.clock, self.decode_s = source, clock, decode_s
        self.info = source.info

    def read(self) -> Frame | None:
        self.clock.now += self.decode_s
        return self.source.read()

    @property
    def timestamp_s(self) -> float | None:
        return self.source.timestamp_s

    def release(self) -> None:
        self.source.release()


class ScriptedLiveSource(Source):
    """A live source whose read ``i`` waits ``reads_s[i]`` on the manual clock for a frame that
    carries the source timestamp ``timestamps[i]`` (None: the source gives none, as a camera);
    ``arrivals`` records when each read returned."""

    def __init__(
        self,
        clock: ManualClock,
        reads_s: list[float],
        timestamps: list[float | None],
        kind: str = "stream",
    ) -> None:
        self.clock, self.reads_s, self.timestamps = clock, reads_s, timestamps
        self.info = SourceInfo("live", kind, 30.0, 8, 8, None, True)  # type: ignore[arg-type]
        self.arrivals: list[float] = []
        self._timestamp: float | None = None

    def read(self) -> Frame | None:
        i = len(self.arrivals)
        if i >= len(self.reads_s):
            return None
        self.clock.now += self.reads_s[i]
        self.arrivals.append(round(self.clock.now - 100.0, 6))
        self._timestamp = self.timestamps[i]
        return np.zeros((8, 8, 3), np.uint8)

    @property
    def timestamp_s(self) -> float | None:
        return self._timestamp

    def release(self) -> None:
        pass


class EmptyAfterRewind(Source):
    """A real source that starts again when asked, then has no frame (a file emptied while
    it was read)."""

    def __init__(self, source: Source) -> None:
        self.source, self.info, self.rewound = source, source.info, False

    def read(self) -> Frame | None:
        return None if self.rewound else self.source.read()

    def rewind(self) -> bool:
        self.rewound = True
        return True

    def release(self) -> None:
        self.source.release()


class HoldingBuffer(FrameBuffer[CapturedFrame]):
    """A buffer that holds the reader ``holds_s[i]`` seconds before taking frame ``i`` (a loop
    behind a live source under ``block``); meanwhile the source's frames wait in its buffers."""

    def __init__(self, clock: ManualClock, holds_s: dict[int, float]) -> None:
        super().__init__(1000, "block")
        self.clock, self.holds_s = clock, holds_s

    def put(self, item: CapturedFrame) -> bool:
        self.clock.now += self.holds_s.get(item.index, 0.0)
        return super().put(item)


def live_capture_times(
    reads_s: list[float],
    timestamps: list[float | None],
    holds_s: dict[int, float] | None = None,
    kind: str = "stream",
) -> tuple[list[float], list[float]]:
    """(arrivals, capture times), in seconds after the clock's start, for a scripted source."""
    clock = ManualClock(100.0)
    buffer = HoldingBuffer(clock, holds_s or {})
    source = ScriptedLiveSource(clock, reads_s, timestamps, kind)
    reader = FrameReader(source, buffer, clock=clock)
    reader.start()
    frames = drain(buffer)
    assert reader.join(5.0)
    return source.arrivals, [round(frame.captured_at - 100.0, 6) for frame in frames]


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
        clock = ManualClock(100.0)
        buffer: FrameBuffer[CapturedFrame] = FrameBuffer(8, "block")
        reader = FrameReader(open_source("synthetic:32x32@30:0.1"), buffer, clock=clock)
        reader.start()
        frames = drain(buffer)
        assert {f.captured_at for f in frames} == {100.0}

    def test_realtime_paces_frames_at_the_source_rate(self):
        """--realtime delivers frame i at start + i/fps: waits of one frame period each."""
        clock = ManualClock(100.0)
        buffer: FrameBuffer[CapturedFrame] = FrameBuffer(8, "block")
        source = open_source("synthetic:32x32@20:0.25")  # 5 frames, 50 ms apart
        reader = FrameReader(source, buffer, realtime=True, clock=clock, sleep=clock.sleep)
        reader.start()
        frames = drain(buffer)
        assert clock.sleeps == [0.05, 0.05, 0.05, 0.05]
        assert [round(f.captured_at - 100.0, 6) for f in frames] == [0.0, 0.05, 0.1, 0.15, 0.2]

    def test_realtime_paces_a_variable_rate_file_by_its_frame_timestamps(self, tmp_path: Path):
        """A real VFR clip (30 frames 1/30 s apart, then 10 frames 0.1 s apart) is delivered at
        its frames' own times, not at its average or nominal rate."""
        clock = ManualClock(100.0)
        buffer: FrameBuffer[CapturedFrame] = FrameBuffer(64, "block")
        source = open_source(str(write_vfr_mkv(tmp_path / "vfr.mkv")))
        reader = FrameReader(source, buffer, realtime=True, clock=clock, sleep=clock.sleep)
        reader.start()
        frames = drain(buffer)
        assert len(frames) == 40
        assert clock.sleeps == pytest.approx([1 / 30] * 30 + [0.1] * 9, abs=0.001)
        assert frames[-1].captured_at - 100.0 == pytest.approx(1.9, abs=0.001)

    def test_a_decoder_slower_than_the_source_rate_shows_in_frame_age(self):
        """Decoding at 60 ms a frame a 30 FPS source: frame i is due 33 ms after frame i-1, so
        capture times are the due times and the lag (27 ms more per frame) counts as age."""
        clock = ManualClock(100.0)
        buffer: FrameBuffer[CapturedFrame] = FrameBuffer(64, "block")
        source = SlowDecoder(open_source("synthetic:32x32@30:0.2"), clock, decode_s=0.06)
        reader = FrameReader(source, buffer, realtime=True, clock=clock, sleep=clock.sleep)
        reader.start()
        frames = drain(buffer)
        assert clock.sleeps == []  # always late: never waits
        # Frame 0 arrives at 60 ms and sets the pace; frame 5 is due at 60 + 167 ms but is
        # decoded only at 360 ms.
        due = [f.captured_at - 100.0 for f in frames]
        assert due == pytest.approx([0.06 + i / 30 for i in range(6)])

    def test_without_realtime_it_never_sleeps(self):
        """A file is read as fast as it decodes unless pacing is asked for."""
        clock = ManualClock(100.0)
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


class TestReaderLifecycle:
    def test_leaving_the_with_block_of_a_reader_that_never_started_releases_the_source(self):
        """The reader owns its source: a run that fails before start() still frees it."""
        source = FailingSource(good=3)
        with FrameReader(source, FrameBuffer(2)) as reader:
            assert not source.released
        assert source.released
        assert not reader.is_alive

    def test_leaving_the_with_block_stops_a_reader_blocked_on_a_full_buffer(self):
        """An endless source under ``block`` waits for room; leaving the block wakes it, joins
        the thread and the source is released by it."""
        source = open_source("synthetic:16x16@30:100")
        buffer: FrameBuffer[CapturedFrame] = FrameBuffer(1, "block")
        with FrameReader(source, buffer) as reader:
            reader.start()
            assert buffer.get(10.0) is not None  # it is running
        assert not reader.is_alive
        assert source.read() is None  # released: a synthetic source reads nothing after that

    def test_close_is_idempotent_and_says_whether_the_thread_ended(self):
        """close() twice is fine; both report a stopped thread."""
        reader = FrameReader(FailingSource(good=1), FrameBuffer(2))
        reader.start()
        assert reader.close(5.0)
        assert reader.close(5.0)


class TestLiveFrameAge:
    def test_frames_a_held_up_reader_reads_late_are_stamped_when_the_stream_made_them(self):
        """A 10 FPS stream whose reader waits 2 s to hand over frame 0: frames 1-4 wait in the
        stream's buffers meanwhile, come out at once, and keep their own times, so their age
        shows the 2 s lag instead of starting when they were read."""
        arrivals, captured = live_capture_times(
            [0.1, 0.001, 0.001, 0.001, 0.001], [0.0, 0.1, 0.2, 0.3, 0.4], holds_s={0: 2.0}
        )
        assert arrivals == pytest.approx([0.1, 2.101, 2.102, 2.103, 2.104])
        assert captured == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5], abs=1e-3)

    def test_a_frame_is_never_stamped_later_than_it_arrived(self):
        """Frames already buffered when the stream opened come out at once, then each is
        waited for: every frame is stamped on arrival."""
        arrivals, captured = live_capture_times(
            [0.0, 0.0, 0.0, 0.1, 0.1], [0.0, 0.1, 0.2, 0.3, 0.4]
        )
        assert captured == arrivals

    def test_timestamps_that_go_back_start_the_reckoning_again(self):
        """A reconnect restarts the stream's timestamps: the next frame is stamped on arrival,
        not an hour in the past."""
        arrivals, captured = live_capture_times([0.1] * 4, [3600.0, 3600.1, 0.0, 0.1])
        assert captured == arrivals

    def test_timestamps_slower_than_the_frames_do_not_show_as_age(self):
        """A camera whose stream says 30 FPS while it delivers 20 (MJPEG over HTTP gets
        timestamps at the nominal rate), or a sender clock 50 ppm slow: the reader waits for
        every frame, so each is stamped on arrival and no false lag accumulates."""
        arrivals, captured = live_capture_times([0.05] * 300, [i / 30 for i in range(300)])
        assert captured == arrivals
        arrivals, captured = live_capture_times([1 + 50e-6] * 600, [float(i) for i in range(600)])
        assert captured == arrivals

    @pytest.mark.parametrize("kind", ["camera", "stream"])
    def test_a_live_source_without_timestamps_is_stamped_on_arrival(self, kind: str):
        """A camera (or a stream that gives no times) is stamped when the reader gets the frame."""
        arrivals, captured = live_capture_times([0.0, 0.5, 0.1], [None, None, None], {0: 1.0}, kind)
        assert captured == arrivals


class TestLoop:
    def test_a_looping_file_starts_again_and_its_frame_indexes_keep_counting(self, tmp_path: Path):
        """A 20-frame clip read with loop and a limit of 50: indexes 0..49, the clip's frames
        over again (frame 20 is frame 0's picture), two times started again."""
        clip = write_video(tmp_path / "clip.avi", frames=20)
        buffer: FrameBuffer[CapturedFrame] = FrameBuffer(64, "block")
        reader = FrameReader(open_source(str(clip)), buffer, loop=True, limit=50)
        reader.start()
        frames = drain(buffer)
        assert reader.join(5.0)
        assert [f.index for f in frames] == list(range(50))
        assert reader.loops == 2
        brightness = [round(float(f.image[:20].mean())) for f in frames]
        assert brightness[20:40] == brightness[:20] and brightness[40:] == brightness[:10]
        assert reader.error is None

    def test_the_sample_clip_loops(self):
        """samples/sample.mp4 (150 frames) read for 320 frames: started again twice."""
        buffer: FrameBuffer[CapturedFrame] = FrameBuffer(8, "block")
        reader = FrameReader(open_source(str(SAMPLE)), buffer, loop=True, limit=320)
        reader.start()
        frames = drain(buffer)
        assert reader.join(5.0)
        assert (len(frames), reader.loops, reader.error) == (320, 2, None)
        assert np.array_equal(frames[150].image, frames[0].image)

    def test_without_loop_the_end_is_the_end(self):
        """The default: a source read once, no time started again."""
        buffer: FrameBuffer[CapturedFrame] = FrameBuffer(64, "block")
        reader = FrameReader(open_source("synthetic:32x32@30:0.5"), buffer)
        reader.start()
        assert len(drain(buffer)) == 15
        assert reader.join(5.0)
        assert reader.loops == 0

    def test_realtime_pacing_goes_on_across_the_start_again(self):
        """Paced at its own rate, the first frame of the second pass is due one frame period
        after the last frame of the first: no burst, no pause."""
        clock = ManualClock(100.0)
        buffer: FrameBuffer[CapturedFrame] = FrameBuffer(16, "block")
        source = open_source("synthetic:32x32@20:0.25")  # 5 frames, 50 ms apart
        reader = FrameReader(
            source, buffer, realtime=True, loop=True, limit=12, clock=clock, sleep=clock.sleep
        )
        reader.start()
        frames = drain(buffer)
        assert [round(f.captured_at - 100.0, 6) for f in frames] == [
            round(i * 0.05, 6) for i in range(12)
        ]

    def test_a_source_that_cannot_start_again_is_an_error(self):
        """A source without a way back to its start ends the looping run with an error."""
        buffer: FrameBuffer[CapturedFrame] = FrameBuffer(8, "block")
        reader = FrameReader(FailingSource(3, fail=False), buffer, loop=True)
        reader.start()
        assert len(drain(buffer)) == 3
        assert reader.join(5.0)
        assert "cannot start again" in str(reader.error)

    def test_a_source_that_gives_no_frame_after_starting_again_ends(self, tmp_path: Path):
        """A pass without a single frame ends the reading instead of spinning."""
        buffer: FrameBuffer[CapturedFrame] = FrameBuffer(8, "block")
        source = EmptyAfterRewind(open_source("synthetic:32x32@30:0.1"))
        reader = FrameReader(source, buffer, loop=True)
        reader.start()
        assert len(drain(buffer)) == 3
        assert reader.join(5.0)
        assert (reader.loops, reader.error) == (1, None)
