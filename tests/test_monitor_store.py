"""Store: the server's latest reading, the watched process's clock carried forward, the frame."""

from __future__ import annotations

import threading
import time

import pytest

from framepipe.monitor.jpeg import PreviewError
from framepipe.monitor.reading import Reading, StreamReading
from framepipe.monitor.store import FRAME_WAIT_S, ReadingError, Store
from framepipe.pipeline.live import PipelineSnapshot


def stream(last_frame_at: float | None = 100.0, budget_ms: float = 40.0) -> StreamReading:
    return StreamReading(
        PipelineSnapshot(
            state="running", source="synthetic", budget_ms=budget_ms, frames_read=1,
            frames_processed=1, frames_dropped=0, frames_failed=0, budget_misses=0,
            reconnects=0, elapsed_s=1.0, fps=25.0, frame_ms={"p50": 1.0, "p99": 2.0, "max": 3.0},
            frame_age_ms={"p50": 1.0, "p99": 2.0}, last_frame_at=last_frame_at, latest_frame=None,
        )
    )  # fmt: skip


class TestView:
    def test_the_watched_clock_runs_on_between_readings(self) -> None:
        """now = the reading's published_at plus the time since it arrived."""
        local = [10.0]
        store = Store(clock=lambda: local[0])
        store.put(Reading(published_at=500.0, streams={"main": stream(499.0)}))
        local[0] = 12.5
        view = store.view()
        assert view.now == 502.5
        assert view.first_stream is not None  # the stream's snapshot
        assert view.first_stream.seconds_since_last_frame(view.now) == 3.5

    def test_a_reading_that_failed_raises_its_error(self) -> None:
        """The watched process's error reaches the request as ReadingError."""
        store = Store()
        store.put(Reading(published_at=1.0, error="RuntimeError: snapshot failed"))
        with pytest.raises(ReadingError, match="RuntimeError: snapshot failed"):
            store.view()

    @pytest.mark.parametrize(
        ("stall_s", "budget_ms", "limit"),
        [(None, 40, 3.0), (None, 500, 5.0), (1.5, 500, 1.5)],
    )
    def test_the_stall_limit_is_the_given_one_or_the_default(
        self, stall_s: float | None, budget_ms: float, limit: float
    ) -> None:
        """An explicit stall_s wins; else 3 s or 10 budgets."""
        limit_s = Store(stall_s).stall_limit_s(stream(budget_ms=budget_ms).snapshot)
        assert limit_s == pytest.approx(limit)


class TestJpeg:
    def test_asking_for_a_frame_tells_the_watched_process(self) -> None:
        """Every frame request calls want_frames, so encoding starts only when someone looks."""
        asked = []
        store = Store(want_frames=lambda stream: asked.append(1))
        store.put(Reading(published_at=1.0, streams={"main": stream()}, previews={"main": b"jpeg"}))
        assert store.jpeg() == b"jpeg"
        assert asked == [1]

    def test_a_request_waits_for_the_frame_a_reading_brings(self) -> None:
        """With no fresh frame, the request waits until a reading carries one."""
        store = Store()
        store.put(Reading(published_at=1.0, streams={"main": stream()}))
        later = threading.Timer(
            0.1,
            store.put,
            [Reading(published_at=1.1, streams={"main": stream()}, previews={"main": b"new"})],
        )
        later.start()
        try:
            assert store.jpeg() == b"new"
        finally:
            later.join(timeout=5)

    def test_a_reading_without_frames_ends_the_wait_at_once(self) -> None:
        """A stream that has processed nothing yet answers None without the full wait."""
        store = Store()
        store.put(Reading(published_at=1.0, streams={"main": stream(last_frame_at=None)}))
        later = threading.Timer(
            0.05, store.put, [Reading(published_at=1.1, streams={"main": stream(None)})]
        )
        started = time.monotonic()
        later.start()
        try:
            assert store.jpeg() is None
        finally:
            later.join(timeout=5)
        assert time.monotonic() - started < FRAME_WAIT_S

    def test_a_frame_that_cannot_be_shown_raises_its_reason_until_one_can(self) -> None:
        """A reading's preview error replaces the picture (an older one would be a wrong one)
        until a reading brings a JPEG again."""
        store = Store()
        store.put(Reading(published_at=1.0, streams={"main": stream()}, previews={"main": b"old"}))
        broken = {"main": "no image"}
        store.put(Reading(published_at=1.1, streams={"main": stream()}, preview_errors=broken))
        with pytest.raises(PreviewError, match="no image"):
            store.jpeg()
        store.put(Reading(published_at=1.2, streams={"main": stream()}))  # nothing new: the same
        with pytest.raises(PreviewError, match="no image"):
            store.jpeg()
        store.put(Reading(published_at=1.3, streams={"main": stream()}, previews={"main": b"new"}))
        assert store.jpeg() == b"new"
