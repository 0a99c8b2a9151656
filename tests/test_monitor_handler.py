"""The HTTP side of the stats server: routes, errors, the dashboard files and the two streams."""

from __future__ import annotations

import http.client
import re
import socket
from collections.abc import Iterator

import cv2
import numpy as np
import pytest

from framepipe.monitor import StatsServer, serve
from framepipe.monitor.handler import ENDPOINTS
from monitor_helpers import SyntheticRun, open_stream, read_event, request, watched_run

RESOURCE_KEYS = {"memory_mb", "cpu_percent", "logging", "pipeline"}
Live = tuple[SyntheticRun, StatsServer]


@pytest.fixture(scope="module")
def server() -> Iterator[StatsServer]:
    """One server without a pipeline for the tests that only read from it."""
    with serve(port=0) as server:
        yield server


@pytest.fixture(scope="module")
def live() -> Iterator[Live]:
    """One watched synthetic run for the tests that only read from it."""
    with watched_run() as run_and_server:
        yield run_and_server


class TestRouting:
    def test_an_unknown_path_is_a_404_json_listing_the_endpoints(self, server: StatsServer) -> None:
        """A typo gets a JSON answer that names what exists."""
        reply = request(server, "/system_resources")
        assert reply.status == 404
        document = reply.json()
        assert document["error"] == "no such endpoint: /system_resources"
        assert document["endpoints"] == list(ENDPOINTS)

    @pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "BREW"])
    def test_methods_other_than_get_and_head_are_405(
        self, server: StatsServer, method: str
    ) -> None:
        """Every other method, known or made up, is refused with Allow: GET, HEAD."""
        reply = request(server, "/system-resources", method=method)
        assert reply.status == 405
        assert reply.headers["allow"] == "GET, HEAD"
        assert reply.json() == {"error": f"method not allowed: {method}"}

    def test_head_answers_the_headers_without_a_body(self, server: StatsServer) -> None:
        """HEAD gives GET's status, type and length, and no body."""
        get = request(server, "/system-resources")
        head = request(server, "/system-resources", method="HEAD")
        assert head.status == 200
        assert head.body == b""
        assert head.headers["content-type"] == "application/json"
        assert int(head.headers["content-length"]) > 0
        assert get.body

    def test_healthz_is_200_while_the_process_serves(self, server: StatsServer) -> None:
        """Liveness says only that the server answers."""
        reply = request(server, "/healthz")
        assert (reply.status, reply.json()) == (200, {"status": "ok"})

    def test_a_query_string_does_not_change_the_route(self, live: Live) -> None:
        """``/frame.jpg?t=...`` (the dashboard's cache buster) is /frame.jpg."""
        _, server = live
        assert request(server, "/frame.jpg?t=123").headers["content-type"] == "image/jpeg"

    def test_one_connection_carries_several_requests(self, server: StatsServer) -> None:
        """HTTP/1.1 keep-alive: a scraper or a browser reuses its connection."""
        host, port = server.address
        connection = http.client.HTTPConnection(host, port, timeout=5)
        try:
            for path in ("/healthz", "/system-resources", "/metrics", "/nope"):
                connection.request("GET", path)
                reply = connection.getresponse()
                reply.read()
                assert reply.status in (200, 404)
                assert not reply.will_close
        finally:
            connection.close()

    def test_an_answer_that_fails_to_build_is_a_500_and_the_server_goes_on(self) -> None:
        """A provider that raises gives a JSON 500 naming the error; later requests still work."""

        class Broken:
            def snapshot(self) -> object:
                raise RuntimeError("snapshot failed")

        with serve(port=0, pipeline=Broken()) as server:  # type: ignore[arg-type]
            reply = request(server, "/system-resources")
            assert reply.status == 500
            assert reply.json() == {"error": "internal error: RuntimeError: snapshot failed"}
            assert request(server, "/healthz").status == 200


class TestDashboardFiles:
    def test_the_page_and_its_files_come_from_the_package(self, server: StatsServer) -> None:
        """/ is HTML that loads only same-origin files, and each of them is served."""
        page = request(server, "/")
        assert page.status == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        html = page.body.decode()
        linked = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert "/dashboard.js" in linked and "/dashboard.css" in linked
        for url in linked:
            assert url.startswith(("/", "data:")), f"{url} is not served by the package"
        for path in ("/dashboard.js", "/dashboard.css"):
            reply = request(server, path)
            assert reply.status == 200
            assert b"http://" not in reply.body and b"https://" not in reply.body


class TestFrame:
    def test_frame_jpg_is_the_latest_frame_as_jpeg(self, live: Live) -> None:
        """A JPEG of the source's size that decodes."""
        run, server = live
        reply = request(server, "/frame.jpg")
        assert reply.status == 200
        assert reply.headers["content-type"] == "image/jpeg"
        image = cv2.imdecode(np.frombuffer(reply.body, np.uint8), cv2.IMREAD_COLOR)
        assert image.shape == (run.source.info.height, run.source.info.width, 3)

    def test_frame_jpg_is_404_before_the_first_frame(self) -> None:
        """A pipeline that has not processed a frame yet has nothing to show."""
        run = SyntheticRun()  # never started
        try:
            with serve(port=0, pipeline=run) as server:
                assert request(server, "/frame.jpg").json() == {"error": "no frame yet"}
        finally:
            run.source.release()

    @pytest.mark.parametrize("path", ["/frame.jpg", "/stream.mjpg"])
    def test_frames_are_404_without_a_pipeline(self, server: StatsServer, path: str) -> None:
        """A logging-only server says there is no pipeline instead of streaming nothing."""
        reply = request(server, path)
        assert (reply.status, reply.json()) == (404, {"error": "no pipeline attached"})

    def test_stream_mjpg_sends_jpeg_parts_as_frames_come(self, live: Live) -> None:
        """multipart/x-mixed-replace with one JPEG per part, each with its length."""
        _, server = live
        with open_stream(server, "/stream.mjpg") as stream:
            content_type = stream.getheader("Content-Type", "")
            assert content_type.startswith("multipart/x-mixed-replace; boundary=")
            boundary = content_type.split("boundary=")[1].encode()
            for _ in range(2):
                assert stream.readline() == b"--" + boundary + b"\r\n"
                headers = {}
                while (line := stream.readline()) != b"\r\n":
                    name, value = line.decode().split(":", 1)
                    headers[name.lower()] = value.strip()
                assert headers["content-type"] == "image/jpeg"
                jpeg = stream.read(int(headers["content-length"]))
                assert jpeg[:2] == b"\xff\xd8" and jpeg[-2:] == b"\xff\xd9"
                assert stream.readline() == b"\r\n"


class TestEvents:
    def test_events_carry_the_system_resources_document_every_second(self, live: Live) -> None:
        """Each SSE ``data:`` line is the /system-resources JSON; frames move between two."""
        _, server = live
        with open_stream(server, "/events") as events:
            assert events.getheader("Content-Type") == "text/event-stream"
            first = read_event(events)
            second = read_event(events)
            assert set(first) == RESOURCE_KEYS
            assert set(first) == set(request(server, "/system-resources").json())
            processed = [e["pipeline"]["frames_processed"] for e in (first, second)]
            assert processed[1] > processed[0]

    def test_head_of_a_stream_is_headers_only(self, server: StatsServer) -> None:
        """HEAD /events answers the stream's headers and closes."""
        with socket.create_connection(server.address, timeout=5) as sock:
            sock.sendall(b"HEAD /events HTTP/1.1\r\nHost: localhost\r\n\r\n")
            data = b""
            while chunk := sock.recv(4096):
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        assert b"Content-Type: text/event-stream" in head
        assert body == b""

