"""Tests for framepipe.bench.loop: the timed frame loop, driven by a manual clock."""

from __future__ import annotations

from typing import Any

import pytest

from framepipe.bench.loop import LOG_TEMPLATE, time_frames
from helpers import ManualClock


class SlowProcessor:
    """Takes ``ns`` of clock time per frame and remembers what it saw."""

    def __init__(self, clock: ManualClock, ns: int) -> None:
        self.clock, self.ns, self.seen = clock, ns, []

    def __call__(self, frame: Any) -> Any:
        self.seen.append(frame)
        self.clock.advance(self.ns)
        return frame


class RecordingLog:
    """An ``info`` that takes ``ns`` of clock time per call and records its arguments."""

    def __init__(self, clock: ManualClock, ns: int) -> None:
        self.clock, self.ns, self.calls = clock, ns, []

    def __call__(self, template: str, *args: Any) -> None:
        self.calls.append((template, *args))
        self.clock.advance(self.ns)


def test_frame_time_is_processing_plus_logging_on_logged_frames() -> None:
    """Logged frames cost processor + log call; the others cost the processor alone."""
    clock = ManualClock(0)
    processor = SlowProcessor(clock, 2_000_000)
    log = RecordingLog(clock, 500_000)
    timings = time_frames(["a", "b", "c"], 5, processor, log, log_every=2, clock=clock)
    assert timings.frame_ns == [2_500_000, 2_000_000, 2_500_000, 2_000_000, 2_500_000]
    assert timings.call_ns == [500_000, 500_000, 500_000]
    assert timings.wall_ns == sum(timings.frame_ns)


def test_every_nth_frame_is_logged_with_index_and_processing_ms() -> None:
    """Frames 0, N, 2N ... are logged with the template, their index and processing time."""
    clock = ManualClock(0)
    log = RecordingLog(clock, 1_000)
    time_frames([0], 7, SlowProcessor(clock, 3_000_000), log, log_every=3, clock=clock)
    assert log.calls == [(LOG_TEMPLATE, 0, 3.0), (LOG_TEMPLATE, 3, 3.0), (LOG_TEMPLATE, 6, 3.0)]


def test_frames_are_cycled_when_the_run_is_longer_than_the_pool() -> None:
    """The loop runs ``count`` frames, cycling through the in-memory pool in order."""
    clock = ManualClock(0)
    processor = SlowProcessor(clock, 1)
    time_frames(["a", "b"], 5, processor, None, log_every=1, clock=clock)
    assert processor.seen == ["a", "b", "a", "b", "a"]


def test_without_a_log_call_nothing_is_logged_or_timed_as_a_call() -> None:
    """``info=None`` is the baseline: no call samples, frame time is the processor's."""
    clock = ManualClock(0)
    timings = time_frames(["a"], 4, SlowProcessor(clock, 1_000), None, log_every=1, clock=clock)
    assert timings.call_ns == []
    assert timings.frame_ns == [1_000] * 4


def test_a_custom_template_is_passed_through() -> None:
    """Modes with their own message syntax (loguru's ``{}``) get their template used."""
    clock = ManualClock(0)
    log = RecordingLog(clock, 0)
    time_frames(["a"], 1, SlowProcessor(clock, 0), log, 1, template="frame {} {:.3f}", clock=clock)
    assert log.calls == [("frame {} {:.3f}", 0, 0.0)]


@pytest.mark.parametrize(
    ("frames", "count", "log_every", "message"),
    [
        (["a"], 0, 1, "count must be at least 1"),
        ([], 1, 1, "frames must not be empty"),
        (["a"], 1, 0, "log_every must be at least 1"),
    ],
)
def test_rejects_bad_arguments(frames: list[str], count: int, log_every: int, message: str) -> None:
    """Bad sizes are a ValueError, never an assert."""
    with pytest.raises(ValueError, match=message):
        time_frames(frames, count, lambda frame: frame, None, log_every)
