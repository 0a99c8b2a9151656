"""MonitorApp: what every endpoint answers, from the store the readings go to.

No server process and no socket: a watched process is made of snapshot providers on a manual
clock, a ``Publisher`` builds its readings, a ``Store`` on the server's (manual) clock keeps the
latest one, and requests go through the ``Handler`` in memory.
"""

from __future__ import annotations

import http.client
import io
import json
from dataclasses import dataclass, field, replace
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from framepipe.monitor.app import MonitorApp
from framepipe.monitor.handler import ENDPOINTS, Handler
from framepipe.monitor.providers import Monitored
from framepipe.monitor.publisher import Publisher
from framepipe.monitor.store import ReadingError, Store
from framepipe.pipeline.histogram import FrameHistograms
from framepipe.pipeline.live import PipelineSnapshot
from helpers import ManualClock

PUBLISHED_AT = 100.0  # the watched process's clock when it sends a reading
STALL_S = 2.0

LOG_STATS = {
    "mode": "async",
    "queue_size": 3,
    "queue_maxsize": 10_000,
    "log_file": "logs/run.txt",
    "listener_running": True,
    "accepted": 120,
    "written": 117,
    "dropped": 0,
    "high_water": 40,
}


def snapshot(
    state: str = "running",
    frames: int = 30,
    last_frame_at: float | None = PUBLISHED_AT - 0.5,
    frame: np.ndarray | None = None,
) -> PipelineSnapshot:
    """A stream's snapshot: ``frames`` processed, the last at ``last_frame_at``."""
    if frame is None and last_frame_at is not None:
        frame = np.full((24, 32, 3), 128, np.uint8)
    return PipelineSnapshot(
        state=state,  # type: ignore[arg-type]
        source="synthetic",
        budget_ms=40.0,
        frames_read=frames + 2,
        frames_processed=frames,
        frames_dropped=2,
        frames_failed=0,
        budget_misses=1,
        reconnects=0,
        elapsed_s=1.2,
        fps=25.0,
        frame_ms={"p50": 4.0, "p99": 9.0, "max": 12.0},
        frame_age_ms={"p50": 6.0, "p99": 15.0},
        last_frame_at=last_frame_at,
        latest_frame=frame,
    )


@dataclass
class Stream:
    """A snapshot provider that answers what it is set to, and counts frames in histograms."""

    current: PipelineSnapshot
    pairs: FrameHistograms = field(default_factory=lambda: FrameHistograms.fixed())

    def snapshot(self) -> PipelineSnapshot:
        return self.current

    def histograms(self) -> FrameHistograms:
        return self.pairs


class Broken:
    """A provider whose snapshot fails: the reading carries the error."""

    def snapshot(self) -> PipelineSnapshot:
        raise RuntimeError("camera gone")


@dataclass
class Logger:
    stats: dict[str, Any]

    def get_stats(self) -> dict[str, Any]:
        return self.stats


class Watched:
    """A watched process and the server's side of it, each on a clock of its own.

    ``publish()`` sends a reading (stamped ``PUBLISHED_AT`` on the process's clock) to the
    store; ``server_clock.advance()`` lets time pass on the server without a new reading.
    """

    def __init__(
        self,
        streams: dict[str, Any],
        log_stats: dict[str, Any] | None = None,
        *,
        server_clock: ManualClock | None = None,
    ) -> None:
        self.streams = streams
        self.server_clock = server_clock or ManualClock(5_000.0)
        monitored = Monitored(
            streams=streams,
            logger=Logger(LOG_STATS if log_stats is None else log_stats),
            clock=lambda: PUBLISHED_AT,
        )
        self.publisher = Publisher(monitored, io.BytesIO())
        self.store = Store(STALL_S, want_frames=self.publisher.want_frames, clock=self.server_clock)
        self.app = MonitorApp(self.store, has_stream=bool(streams))
        self.publish()

    def publish(self) -> None:
        self.store.put(self.publisher.reading())


def watched(*snapshots: PipelineSnapshot, **options: Any) -> Watched:
    """Streams ``main`` (one) or ``a``, ``b``, ... (several) showing ``snapshots``."""
    names = ["main"] if len(snapshots) == 1 else [chr(ord("a") + i) for i in range(len(snapshots))]
    return Watched({n: Stream(s) for n, s in zip(names, snapshots, strict=True)}, **options)


# -- requests in memory --------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        assert self.headers["content-type"] == "application/json", self.headers
        return json.loads(self.body)


class _Connection:
    """What the handler reads the request from and writes the answer to, instead of a socket."""

    def __init__(self, request: bytes) -> None:
        self.request = request
        self.sent = bytearray()

    def makefile(self, mode: str, buffering: int = -1) -> io.BytesIO:
        return io.BytesIO(self.request)

    def sendall(self, data: bytes) -> None:
        self.sent += data

    def settimeout(self, timeout: float | None) -> None:
        pass

    def setsockopt(self, *args: object) -> None:
        pass


def ask(app: MonitorApp, path: str, method: str = "GET", accept: str | None = None) -> Answer:
    """One request through the Handler, in memory; the answer as the client reads it."""
    lines = [f"{method} {path} HTTP/1.1", "Host: localhost", "Connection: close"]
    if accept is not None:
        lines.append(f"Accept: {accept}")
    connection = _Connection(("\r\n".join(lines) + "\r\n\r\n").encode())
    Handler(connection, ("127.0.0.1", 40000), SimpleNamespace(app=app))  # type: ignore[arg-type]
    raw = bytes(connection.sent)
    reply = http.client.HTTPResponse(_Connection(raw), method=method)  # type: ignore[arg-type]
    reply.begin()
    headers = {name.lower(): value for name, value in reply.getheaders()}
    body = reply.read()
    if method == "HEAD":
        assert raw.endswith(b"\r\n\r\n"), "a HEAD answer has no body"
    return Answer(reply.status, headers, body)


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample of the exposition ``text``."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    raise AssertionError(f"no sample {name}{labels} in:\n{text}")


# -- the endpoints -------------------------------------------------------------------------------


class TestHealthz:
    def test_ok_whatever_the_streams_say(self) -> None:
        """Liveness is the server answering: 200 even for a stalled stream."""
        process = watched(snapshot(last_frame_at=1.0))
        answer = ask(process.app, "/healthz")
        assert (answer.status, answer.json()) == (200, {"status": "ok"})


class TestReadyz:
    def test_ready_while_frames_arrive(self) -> None:
        """The last frame half a second old, the writer running: 200 ready."""
        process = watched(snapshot())
        assert process.app.readiness().ready
        answer = ask(process.app, "/readyz")
        assert (answer.status, answer.json()) == (200, {"status": "ready"})

    def test_a_stream_stalled_past_the_limit_is_503_with_its_age(self) -> None:
        """No new reading for 3 s on the server's clock: the last frame is 3.5 s old, past the
        2 s limit, so /readyz is 503 saying how old."""
        process = watched(snapshot())
        process.server_clock.advance(3.0)
        answer = ask(process.app, "/readyz")
        assert answer.status == 503
        assert answer.json() == {
            "status": "not ready",
            "reason": "no frame for 3.5 s",
            "reasons": ["no frame for 3.5 s"],
        }

    def test_a_stall_just_under_the_limit_is_still_ready(self) -> None:
        """1.4 s more makes the frame 1.9 s old: within the 2 s limit."""
        process = watched(snapshot())
        process.server_clock.advance(1.4)
        assert ask(process.app, "/readyz").status == 200

    def test_a_new_reading_with_a_new_frame_makes_it_ready_again(self) -> None:
        """Stalled, then a reading whose frame is fresh: ready again."""
        process = watched(snapshot())
        process.server_clock.advance(3.0)
        assert ask(process.app, "/readyz").status == 503
        process.streams["main"].current = snapshot(frames=31, last_frame_at=PUBLISHED_AT)
        process.publish()
        assert ask(process.app, "/readyz").status == 200

    @pytest.mark.parametrize(
        ("state", "last_frame_at", "reason"),
        [
            ("starting", None, "no frame yet"),  # opened, nothing processed
            ("reconnecting", PUBLISHED_AT - 0.1, "source reconnecting"),  # fresh frame or not
            ("stopping", PUBLISHED_AT - 0.1, "pipeline stopping"),
            ("ended", PUBLISHED_AT - 0.1, "pipeline ended"),
        ],
    )
    def test_a_stream_not_expected_to_deliver_says_why(
        self, state: str, last_frame_at: float | None, reason: str
    ) -> None:
        """States in which frames do not flow are 503 with the state's own reason."""
        process = watched(snapshot(state=state, last_frame_at=last_frame_at))
        answer = ask(process.app, "/readyz")
        assert answer.status == 503
        assert answer.json()["reason"] == reason

    def test_a_stopped_log_writer_is_a_reason_after_the_streams(self) -> None:
        """A stalled stream and a dead writer: both reasons, the stream's first."""
        process = watched(snapshot(), log_stats={**LOG_STATS, "listener_running": False})
        process.server_clock.advance(3.0)
        document = ask(process.app, "/readyz").json()
        assert document["reasons"] == ["no frame for 3.5 s", "log writer stopped"]

    def test_a_logger_that_writes_on_the_caller_has_no_writer_to_lose(self) -> None:
        """The sync mode has no writer thread: listener_running false is not a reason."""
        stats = {**LOG_STATS, "mode": "sync", "listener_running": False}
        assert ask(watched(snapshot(), log_stats=stats).app, "/readyz").status == 200

    def test_with_several_streams_the_reason_names_the_stream(self) -> None:
        """Stream b stalled, a fine: one reason, prefixed with b's name."""
        process = watched(snapshot(), snapshot(last_frame_at=PUBLISHED_AT - 2.5))
        answer = ask(process.app, "/readyz")
        assert answer.status == 503
        assert answer.json()["reasons"] == ["b: no frame for 2.5 s"]


class TestSystemResources:
    def test_the_document_has_the_process_the_logger_and_the_stream(self) -> None:
        """Memory and CPU of this process, the logger's counters, the stream's progress with
        the age of its last frame on the watched clock."""
        process = watched(snapshot())
        process.server_clock.advance(0.25)
        answer = ask(process.app, "/system-resources")
        assert answer.status == 200
        document = answer.json()
        assert set(document) == {"memory_mb", "cpu_percent", "logging", "pipeline"}
        assert document["memory_mb"] > 0
        logging_keys = ["queue_size", "queue_maxsize", "log_file", "listener_running"]
        logging_keys += ["dropped", "written", "high_water"]
        assert document["logging"] == {key: LOG_STATS[key] for key in logging_keys}
        assert document["pipeline"] == {
            "state": "running",
            "source": "synthetic",
            "frames_read": 32,
            "frames_processed": 30,
            "frames_dropped": 2,
            "fps": 25.0,
            "budget_ms": 40.0,
            "budget_misses": 1,
            "frame_ms": {"p50": 4.0, "p99": 9.0},
            "frame_age_ms": {"p50": 6.0, "p99": 15.0},
            "seconds_since_last_frame": 0.75,
            "reconnects": 0,
            "last_results": None,  # no results yet
        }
        assert document == process.app.system_resources() | {
            "memory_mb": document["memory_mb"],
            "cpu_percent": document["cpu_percent"],
        }

    def test_without_a_stream_there_is_no_pipeline_part(self) -> None:
        """A server watching only a logger: process and logging, nothing else."""
        document = ask(Watched({}).app, "/system-resources").json()
        assert set(document) == {"memory_mb", "cpu_percent", "logging"}

    def test_several_streams_are_listed_in_order_with_the_first_as_the_pipeline(self) -> None:
        """``streams`` has one entry per stream, named; ``pipeline`` is the first one's."""
        process = watched(snapshot(frames=30), snapshot(frames=12))
        document = ask(process.app, "/system-resources").json()
        assert [(s["stream"], s["frames_processed"]) for s in document["streams"]] == [
            ("a", 30),
            ("b", 12),
        ]
        assert document["pipeline"]["frames_processed"] == 30


class TestMetrics:
    def test_the_text_format_has_the_stream_and_log_counters(self) -> None:
        """Prometheus' text format by default: the stream's counters, source up, the log's."""
        stream = Stream(snapshot())
        for _ in range(3):
            stream.pairs.observe(0.004, 0.006)
        process = Watched({"main": stream})
        answer = ask(process.app, "/metrics")
        assert answer.status == 200
        assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
        text = answer.body.decode()
        assert metric(text, "framepipe_frames_processed_total", stream="main") == 30
        assert metric(text, "framepipe_frames_dropped_total", stream="main") == 2
        assert metric(text, "framepipe_source_up", stream="main") == 1
        assert metric(text, "framepipe_frame_seconds_count", stream="main") == 3
        assert metric(text, "framepipe_log_records_written_total") == 117
        assert metric(text, "framepipe_log_queue_depth") == 3

    def test_a_stalled_stream_is_down(self) -> None:
        """framepipe_source_up follows readiness: 0 once the last frame is too old."""
        process = watched(snapshot())
        process.server_clock.advance(3.0)
        text = ask(process.app, "/metrics").body.decode()
        assert metric(text, "framepipe_source_up", stream="main") == 0

    def test_openmetrics_when_the_scraper_asks_for_it(self) -> None:
        """The Accept header chooses OpenMetrics, which ends with # EOF."""
        accept = "application/openmetrics-text; version=1.0.0"
        answer = ask(watched(snapshot()).app, "/metrics", accept=accept)
        assert answer.headers["content-type"].startswith("application/openmetrics-text")
        assert answer.body.endswith(b"# EOF\n")


class TestFrames:
    def test_frame_jpg_is_the_latest_frame_once_a_client_asked(self) -> None:
        """Once frames are wanted the next reading brings the JPEG, and /frame.jpg is it."""
        process = watched(snapshot())
        process.publisher.want_frames()  # what a first look at a frame asks of the process
        process.publish()
        answer = ask(process.app, "/frame.jpg")
        assert answer.status == 200
        assert answer.headers["content-type"] == "image/jpeg"
        assert answer.body.startswith(b"\xff\xd8") and answer.body.endswith(b"\xff\xd9")

    def test_frame_jpg_is_404_before_the_first_frame(self) -> None:
        """A stream with nothing processed yet: 404 "no frame yet" once the short wait ends."""
        clock = ManualClock(5_000.0, step=0.6)  # the wait for a frame runs out at once
        process = watched(snapshot(state="starting", last_frame_at=None), server_clock=clock)
        answer = ask(process.app, "/frame.jpg")
        assert (answer.status, answer.json()) == (404, {"error": "no frame yet"})

    @pytest.mark.parametrize("path", ["/frame.jpg", "/stream.mjpg"])
    def test_frames_are_404_without_a_pipeline(self, path: str) -> None:
        """A server with no stream attached has no pictures to give."""
        answer = ask(Watched({}).app, path)
        assert (answer.status, answer.json()) == (404, {"error": "no pipeline attached"})


class TestRouting:
    def test_an_unknown_path_is_404_listing_the_endpoints(self) -> None:
        """The error names the path and lists every endpoint there is."""
        answer = ask(watched(snapshot()).app, "/stats")
        assert answer.status == 404
        assert answer.json() == {"error": "no such endpoint: /stats", "endpoints": list(ENDPOINTS)}

    def test_a_query_string_does_not_change_the_route(self) -> None:
        """/readyz?verbose=1 is /readyz."""
        answer = ask(watched(snapshot()).app, "/readyz?verbose=1")
        assert (answer.status, answer.json()) == (200, {"status": "ready"})

    def test_other_methods_are_405_naming_the_allowed_ones(self) -> None:
        """POST is refused with Allow: GET, HEAD and the connection closed."""
        answer = ask(watched(snapshot()).app, "/readyz", method="POST")
        assert answer.status == 405
        assert answer.headers["allow"] == "GET, HEAD"
        assert answer.json() == {"error": "method not allowed: POST"}

    def test_head_is_the_headers_of_get_without_the_body(self) -> None:
        """HEAD /readyz: the status and length GET would have, no body."""
        process = watched(snapshot())
        get, head = ask(process.app, "/readyz"), ask(process.app, "/readyz", method="HEAD")
        assert head.status == get.status == 200
        assert head.headers["content-length"] == str(len(get.body)) and head.body == b""

    def test_the_dashboard_page_is_served_from_the_package(self) -> None:
        """/ is the dashboard's HTML."""
        answer = ask(watched(snapshot()).app, "/")
        assert answer.status == 200
        assert answer.headers["content-type"] == "text/html; charset=utf-8"
        assert b"<html" in answer.body.lower()


class TestEvents:
    def test_an_event_is_the_system_resources_document(self) -> None:
        """/events sends the retry interval, then the document as a data line; on shutdown
        (``stopping``) the final document goes as an ``end`` event and the stream ends."""
        process = watched(snapshot())
        process.app.stopping.set()
        answer = ask(process.app, "/events")
        assert answer.status == 200
        assert answer.headers["content-type"] == "text/event-stream"
        retry, data = answer.body.decode().strip().split("\n\n")
        assert retry == "retry: 1000"
        kind, _, data = data.partition("\n")
        assert kind == "event: end"
        assert data.startswith("data: ")
        event = json.loads(data[len("data: ") :])
        assert event["pipeline"]["frames_processed"] == 30


class TestFailedReading:
    def test_a_reading_that_failed_is_500_with_its_error_and_liveness_stays(self) -> None:
        """The watched process could not read a stream: every answer built from the reading
        is a 500 with the error; /healthz is still 200."""
        process = Watched({"main": Broken()})
        with pytest.raises(ReadingError, match="RuntimeError: camera gone"):
            process.app.readiness()
        for path in ("/readyz", "/system-resources", "/metrics"):
            answer = ask(process.app, path)
            assert answer.status == 500, path
            assert answer.json() == {"error": "internal error: RuntimeError: camera gone"}
        assert ask(process.app, "/healthz").status == 200

    def test_the_next_good_reading_is_served_again(self) -> None:
        """A failure is the latest reading's, not the app's: a good one replaces it."""
        process = Watched({"main": Broken()})
        assert ask(process.app, "/readyz").status == 500
        process.streams["main"] = Stream(snapshot())
        process.publish()
        assert ask(process.app, "/readyz").status == 200


def test_a_snapshot_changed_by_replace_reaches_the_answers() -> None:
    """Readings are taken when published: the document follows the provider's new figures."""
    process = watched(snapshot())
    stream = process.streams["main"]
    stream.current = replace(stream.current, frames_processed=45, fps=29.0)
    assert ask(process.app, "/system-resources").json()["pipeline"]["frames_processed"] == 30
    process.publish()
    pipeline = ask(process.app, "/system-resources").json()["pipeline"]
    assert (pipeline["frames_processed"], pipeline["fps"]) == (45, 29.0)
