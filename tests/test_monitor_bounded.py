"""What the stats server keeps stays bounded: over a long run, and for streams that left a set."""

from __future__ import annotations

import gc
import http.client
import io
import threading
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager

from framepipe.monitor.app import MonitorApp
from framepipe.monitor.history import HISTORY_POINTS
from framepipe.monitor.host import HTTPServer, _Demand
from framepipe.monitor.providers import Monitored
from framepipe.monitor.publisher import Publisher
from framepipe.monitor.reading import Reading, StreamReading
from framepipe.monitor.store import Store
from framepipe.pipeline.live import PipelineSnapshot
from helpers import ManualClock, wait_until
from monitor_helpers import SyntheticRun

STREAMS = ("cam0", "cam1", "cam2", "cam3")
BOUNDS = (0.001, 0.01, 0.1)


def snapshot(frames: int) -> PipelineSnapshot:
    return PipelineSnapshot(
        state="running", source="synthetic", budget_ms=33.3, frames_read=frames,
        frames_processed=frames, frames_dropped=0, frames_failed=0, budget_misses=0,
        reconnects=0, elapsed_s=frames / 30, fps=30.0 + frames % 7,
        frame_ms={"p50": 1.0 + frames % 5, "p99": 2.0, "max": 3.0},
        frame_age_ms={"p50": 1.0, "p99": 2.0}, last_frame_at=frames / 30, latest_frame=None,
    )  # fmt: skip


def reading(at: float, names: tuple[str, ...] = STREAMS, **extra: object) -> Reading:
    frames = int(at * 30)
    histogram = (BOUNDS, (frames // 4, frames // 2, frames, frames), frames / 300)
    streams = {name: StreamReading(snapshot(frames), histogram, histogram) for name in names}
    return Reading(at, streams, {"queue_size": 0, "queue_maxsize": 100}, **extra)  # type: ignore[arg-type]


def traced_after_seconds(app: MonitorApp, store: Store, clock: ManualClock, seconds: int) -> int:
    """Memory held after ``seconds`` simulated seconds: a reading, a poll and a chart point a
    second, ``/metrics`` and ``/history`` now and then."""
    for second in range(seconds):
        clock.advance(1.0)
        store.put(reading(clock()))
        app.system_resources()
        app.record()
        if second % 60 == 0:
            app.metrics("")
    app.history.json()
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


class TestALongRun:
    def test_the_server_s_memory_stops_growing_once_its_history_is_full(self) -> None:
        """Ten minutes of chart points, then flat: three times as long holds no more."""
        clock = ManualClock(start=0.0)
        store = Store(clock=clock)
        store.put(reading(0.0))
        app = MonitorApp(store, has_stream=True)
        tracemalloc.start()
        try:
            traced_after_seconds(app, store, clock, HISTORY_POINTS + 60)
            full = traced_after_seconds(app, store, clock, 60)
            later = traced_after_seconds(app, store, clock, 2 * HISTORY_POINTS)
        finally:
            tracemalloc.stop()
        assert len(app.history.points()) == HISTORY_POINTS
        assert later - full < 64 * 1024, (full, later)

    def test_closed_event_streams_leave_nothing_behind(self) -> None:
        """Pages that came and went: the server keeps none of their connections."""
        store = Store()
        store.put(reading(1.0))
        app = MonitorApp(store, has_stream=True)
        with _serving(app) as server:
            host, port = server.server_address[:2]
            for _ in range(20):
                connection = http.client.HTTPConnection(str(host), int(port), timeout=10)
                connection.request("GET", "/events")
                response = connection.getresponse()
                assert response.readline().startswith(b"retry:")
                response.close()
                connection.close()
            wait_until(lambda: server.open_connections() == (0, 0), "every connection closed")

    def test_frame_requests_remember_only_recent_streams(self) -> None:
        """Streams asked for once and never again are not kept for ever."""
        out = io.BytesIO()
        clock = ManualClock(start=0.0)
        demand = _Demand(out, clock)
        for number in range(200):
            demand(f"stream-{number}")
            clock.advance(1.0)
        assert len(demand._said_at) == 1  # the others were said long enough ago
        assert out.getvalue().count(b"\n") == 200


@contextmanager
def _serving(app: MonitorApp) -> Iterator[HTTPServer]:
    server = HTTPServer(("127.0.0.1", 0), app)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        app.stopping.set()
        server.shutdown()
        thread.join(10)
        server.close_connections(5)
        server.server_close()


class TestStreamsThatLeave:
    def test_the_store_drops_a_removed_stream_s_frame_and_error(self) -> None:
        store = Store()
        store.put(reading(1.0, ("left", "right"), previews={"left": b"jpeg"},
                          preview_errors={"right": "no image"}))  # fmt: skip
        assert store.jpeg("left") == b"jpeg"
        store.put(reading(1.1, ()))
        assert store._jpegs == {} and store._frame_errors == {} and store._frame_at == {}

    def test_a_failed_reading_keeps_the_frames(self) -> None:
        """A reading that could not list the streams says nothing about who left."""
        store = Store()
        store.put(reading(1.0, ("left",), previews={"left": b"jpeg"}))
        store.put(Reading(1.1, error="RuntimeError: no snapshot"))
        assert store._jpegs == {"left": b"jpeg"}

    def test_a_removed_stream_s_series_leave_metrics(self) -> None:
        store = Store()
        store.put(reading(1.0, ("left", "gone")))
        app = MonitorApp(store, has_stream=True)
        assert b'stream="gone"' in app.metrics("")[0]
        store.put(reading(1.1, ("left",)))
        app._metrics.clear()  # past the 0.1 s the rendering is shared for
        body = app.metrics("")[0]
        assert b'stream="left"' in body
        assert b'stream="gone"' not in body

    def test_the_publisher_forgets_a_removed_stream(self) -> None:
        with SyntheticRun() as left, SyntheticRun() as right:
            left.wait_for_frames(1)
            right.wait_for_frames(1)
            streams = {"left": left, "right": right}
            publisher = Publisher(Monitored(streams=streams), io.BytesIO())
            publisher.want_frames("left")
            publisher.want_frames("right")
            assert set(publisher.reading().previews) == {"left", "right"}
            del streams["right"]
            publisher.reading()
            kept = (publisher._jpegs, publisher._sent, publisher._wanted_until)
            assert [set(per_stream) for per_stream in kept] == [{"left"}] * 3
