"""The stats server's API hook: requests on /streams reach a handler in this process, over a real
server process and real sockets, and its answers come back as JSON."""

from __future__ import annotations

import http.client
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from framepipe.monitor import (
    ApiAnswer,
    ApiRequest,
    ServiceStats,
    StatsServer,
    serve,
)
from framepipe.monitor.api_http import MAX_BODY_BYTES
from framepipe.monitor.api_workers import MAX_IN_FLIGHT
from framepipe.monitor.host import CLOSE_TIMEOUT_S
from helpers import process_ended, wait_until
from monitor_helpers import HTTP_TIMEOUT_S, SyntheticRun, request, wait_for_json

TOKEN = "Bearer s3cret"
ROUNDS = 3  # stops timed of each kind, interleaved


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    will_close: bool

    def json(self) -> Any:
        assert self.headers["content-type"] == "application/json", self.headers
        return json.loads(self.body)


class Client:
    """One kept-alive connection to the server, as a program calling the API would use."""

    def __init__(self, server: StatsServer) -> None:
        host, port = server.address
        self.connection = http.client.HTTPConnection(host, port, timeout=HTTP_TIMEOUT_S)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.connection.close()

    @property
    def local(self) -> str:
        """This end's ``HOST:PORT``, what the handler is told the client is."""
        assert self.connection.sock is not None
        host, port = self.connection.sock.getsockname()[:2]
        return f"{host}:{port}"

    def call(
        self,
        method: str,
        path: str,
        document: Any = None,
        *,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        if document is not None:
            body = json.dumps(document).encode()
        sent = {"Authorization": TOKEN, **(headers or {})}
        if body is not None:
            sent.setdefault("Content-Type", "application/json")
        self.connection.request(method, path, body=body, headers=sent)
        reply = self.connection.getresponse()
        data = reply.read()
        headers_in = {name.lower(): value for name, value in reply.getheaders()}
        return Reply(reply.status, headers_in, data, reply.will_close)


@dataclass
class Service:
    """A handler that records what it was asked and answers by method; ``/streams/slow...``
    waits for its gate (default: ``release``), ``/streams/boom`` raises."""

    requests: list[ApiRequest] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    gates: dict[str, threading.Event] = field(default_factory=dict)
    waiting: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: ApiRequest) -> ApiAnswer:
        with self.lock:
            self.requests.append(request)
        name = [*request.path.split("/"), ""][2]  # /streams/NAME[/restart]
        if name.startswith("slow"):
            with self.lock:
                self.waiting += 1
            try:
                self.gates.get(name, self.release).wait(30)
            finally:
                with self.lock:
                    self.waiting -= 1
            return ApiAnswer(200, {"slow": name})
        if name == "boom":
            raise RuntimeError("the handler broke\nTraceback: not for the client")
        if name == "not-json":
            return ApiAnswer(200, {"when": object()})
        if name == "bad-header":
            return ApiAnswer(200, {}, (("Location", "/a\r\nSet-Cookie: x=1"),))
        if request.method == "POST" and request.path == "/streams":
            made = request.body["name"]
            return ApiAnswer(201, {"name": made}, (("Location", f"/streams/{made}"),))
        if request.method == "DELETE":
            return ApiAnswer(204)
        if request.method == "PUT":
            return ApiAnswer(405, {"error": "use POST"}, (("Allow", "GET, POST"),))
        return ApiAnswer(200, {"method": request.method, "path": request.path})

    def paths(self) -> list[str]:
        with self.lock:
            return [r.path for r in self.requests]

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
        self.release.clear()


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[StatsServer, Service]]:
    """One server with the recording handler for the tests that do not end or time it out."""
    service = Service()
    with serve(port=0, api=service) as server:
        yield server, service
        service.release.set()


@pytest.fixture
def api(served: tuple[StatsServer, Service]) -> Iterator[tuple[StatsServer, Service]]:
    served[1].reset()
    yield served
    served[1].release.set()  # a test that failed midway leaves nothing waiting


def raw_exchange(server: StatsServer, data: bytes, read_s: float = 5.0) -> tuple[bytes, bool]:
    """Send ``data`` on a fresh socket; what came back within ``read_s``, and whether the
    server closed the connection."""
    with socket.create_connection(server.address, timeout=read_s) as sock:
        sock.sendall(data)
        received = b""
        deadline = time.monotonic() + read_s
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                return received, False
            if not chunk:
                return received, True
            received += chunk
        return received, False


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


class TestForwarding:
    @pytest.mark.parametrize(
        ("method", "path", "document"),
        [
            ("GET", "/streams", None),
            ("GET", "/streams/door", None),
            ("POST", "/streams", {"name": "door", "source": "rtsp://10.0.0.5/s", "n": [1, 2.5]}),
            ("DELETE", "/streams/door", None),
            ("POST", "/streams/door/restart", None),
            ("PATCH", "/streams/door", {"processor": ["motion"], "note": "ünïcødé"}),
            ("OPTIONS", "/streams", None),
        ],
    )
    def test_each_method_and_path_reaches_the_handler_as_sent(
        self, api: tuple[StatsServer, Service], method: str, path: str, document: Any
    ) -> None:
        """Method, path, parsed body, the Authorization header and the client's address."""
        server, service = api
        with Client(server) as client:
            reply = client.call(method, path, document)
            expected = ApiRequest(method, path, document, TOKEN, client.local)
        assert reply.status in (200, 201, 204), reply
        assert service.requests == [expected]

    def test_the_path_is_url_decoded_and_the_query_left_out(
        self, api: tuple[StatsServer, Service]
    ) -> None:
        server, service = api
        with Client(server) as client:
            client.call("GET", "/streams/front%20door?verbose=1")
            client.call("GET", "/streams?x=%2F")
        assert service.paths() == ["/streams/front door", "/streams"]

    def test_no_authorization_header_is_none(self, api: tuple[StatsServer, Service]) -> None:
        server, service = api
        host, port = server.address
        connection = http.client.HTTPConnection(host, port, timeout=HTTP_TIMEOUT_S)
        try:
            connection.request("GET", "/streams")
            assert connection.getresponse().read()
        finally:
            connection.close()
        assert service.requests[0].authorization is None

    @pytest.mark.parametrize(
        "path", ["/streams/", "/streams/door/stop", "/streams/door/restart/now", "/streamsx"]
    )
    def test_other_paths_under_streams_are_not_the_apis(
        self, api: tuple[StatsServer, Service], path: str
    ) -> None:
        """Only /streams, /streams/NAME and /streams/NAME/restart go to the handler."""
        server, service = api
        assert request(server, path).status == 404
        assert request(server, path, method="POST").status == 405
        assert service.requests == []

    def test_a_host_that_is_not_answered_gets_no_further(
        self, api: tuple[StatsServer, Service]
    ) -> None:
        """The DNS rebinding guard stands before the API too."""
        server, service = api
        with Client(server) as client:
            reply = client.call("POST", "/streams", {"name": "x"}, headers={"Host": "evil.example"})
        assert reply.status == 403
        assert service.requests == []


class TestAnswers:
    def test_a_document_is_json_with_the_handlers_status(
        self, api: tuple[StatsServer, Service]
    ) -> None:
        server, _ = api
        with Client(server) as client:
            reply = client.call("GET", "/streams/door")
        assert reply.status == 200
        assert reply.json() == {"method": "GET", "path": "/streams/door"}
        assert int(reply.headers["content-length"]) == len(reply.body)

    def test_201_carries_the_handlers_location(self, api: tuple[StatsServer, Service]) -> None:
        server, _ = api
        with Client(server) as client:
            reply = client.call("POST", "/streams", {"name": "door"})
        assert reply.status == 201
        assert reply.headers["location"] == "/streams/door"
        assert reply.json() == {"name": "door"}

    def test_a_405_carries_the_handlers_allow(self, api: tuple[StatsServer, Service]) -> None:
        server, _ = api
        with Client(server) as client:
            reply = client.call("PUT", "/streams/door", {})
        assert (reply.status, reply.headers["allow"]) == (405, "GET, POST")

    def test_204_has_no_body(self, api: tuple[StatsServer, Service]) -> None:
        server, _ = api
        with Client(server) as client:
            reply = client.call("DELETE", "/streams/door")
        assert reply.status == 204
        assert reply.body == b""
        assert "content-type" not in reply.headers
        assert "content-length" not in reply.headers

    def test_head_has_the_headers_of_the_answer_and_no_body(
        self, api: tuple[StatsServer, Service]
    ) -> None:
        server, service = api
        with Client(server) as client:
            reply = client.call("HEAD", "/streams")
        assert reply.status == 200
        assert reply.body == b""
        assert int(reply.headers["content-length"]) == len(
            json.dumps({"method": "HEAD", "path": "/streams"})
        )
        assert service.requests[0].method == "HEAD"

    def test_one_connection_carries_api_requests_and_others(
        self, api: tuple[StatsServer, Service]
    ) -> None:
        """Keep-alive across API requests, refusals of bad bodies and other endpoints."""
        server, service = api
        with Client(server) as client:
            client.call("GET", "/streams")
            sock = client.connection.sock
            replies = [
                client.call("POST", "/streams", {"name": "a"}),
                client.call("DELETE", "/streams/a"),
                client.call("POST", "/streams", body=b"{broken"),
                client.call("GET", "/healthz"),
                client.call("POST", "/streams/a/restart"),
            ]
            assert client.connection.sock is sock
        assert [r.status for r in replies] == [201, 204, 400, 200, 200]
        assert not any(r.will_close for r in replies)
        assert len({r.client for r in service.requests}) == 1


class TestBodies:
    def test_an_empty_body_is_none(self, api: tuple[StatsServer, Service]) -> None:
        server, service = api
        with Client(server) as client:
            assert client.call("POST", "/streams/door/restart", body=b"").status == 200
        assert service.requests[0].body is None

    def test_a_body_of_exactly_the_limit_is_taken(self, api: tuple[StatsServer, Service]) -> None:
        server, service = api
        document = {"pad": "x" * (MAX_BODY_BYTES - len('{"pad": ""}'))}
        body = json.dumps(document).encode()
        assert len(body) == MAX_BODY_BYTES
        with Client(server) as client:
            assert client.call("PATCH", "/streams/door", body=body).status == 200
        assert service.requests[0].body == document

    def test_a_body_over_the_limit_is_413_at_once_unread(
        self, api: tuple[StatsServer, Service]
    ) -> None:
        """The server answers on the headers alone (the body is never sent here: reading it
        would wait out the socket timeout) and closes the connection."""
        server, service = api
        head = (
            b"POST /streams HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % (MAX_BODY_BYTES + 1)
        )
        started = time.monotonic()
        response, closed = raw_exchange(server, head)
        assert time.monotonic() - started < 3
        assert status_of(response) == 413, response
        assert closed
        assert b"connection: close" in response.lower()
        document = json.loads(response.split(b"\r\n\r\n", 1)[1])
        assert document == {
            "error": f"a body of {MAX_BODY_BYTES + 1} bytes is over the limit of "
            f"{MAX_BODY_BYTES} bytes"
        }
        assert service.requests == []

    def test_a_client_expecting_100_continue_gets_the_413_instead(
        self, api: tuple[StatsServer, Service]
    ) -> None:
        """curl asks before sending a large body: no 100 Continue for a body that is refused."""
        server, _ = api
        head = (
            b"POST /streams HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\n"
            b"Content-Length: 10000000\r\n\r\n"
        )
        response, closed = raw_exchange(server, head)
        assert status_of(response) == 413, response
        assert b"100 Continue" not in response
        assert closed

    def test_a_chunked_body_is_411(self, api: tuple[StatsServer, Service]) -> None:
        server, service = api
        data = (
            b"POST /streams HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"2\r\n{}\r\n0\r\n\r\n"
        )
        response, closed = raw_exchange(server, data)
        assert status_of(response) == 411, response
        assert b"send a Content-Length" in response
        assert closed
        assert service.requests == []

    @pytest.mark.parametrize("length", [b"abc", b"-1", b"+5", b"1_0", b"5, 6"])
    def test_a_bad_content_length_is_400(
        self, api: tuple[StatsServer, Service], length: bytes
    ) -> None:
        server, service = api
        data = b"POST /streams HTTP/1.1\r\nHost: localhost\r\nContent-Length: %s\r\n\r\n{}" % length
        response, closed = raw_exchange(server, data)
        assert status_of(response) == 400, response
        assert b"bad Content-Length" in response
        assert closed
        assert service.requests == []

    @pytest.mark.parametrize(
        ("body", "reason"),
        [
            (b"{not json", "the body is not JSON: "),
            (b'{"a": NaN}', "the body is not JSON: NaN is not JSON"),
            (b'"caf\xe9"', "the body is not UTF-8: invalid continuation byte at byte 4"),
            (b"\xff\xfe{}", "the body is not UTF-8: "),
        ],
    )
    def test_a_body_that_is_not_utf8_json_is_400_in_one_line(
        self, api: tuple[StatsServer, Service], body: bytes, reason: str
    ) -> None:
        """The connection stays usable: the body was read."""
        server, service = api
        with Client(server) as client:
            reply = client.call("POST", "/streams", body=body)
            assert not reply.will_close
            assert client.call("GET", "/streams").status == 200
        assert reply.status == 400
        assert reply.json()["error"].startswith(reason)
        assert list(reply.json()) == ["error"]
        assert b"\n" not in reply.body
        assert service.paths() == ["/streams"]  # only the second request


def _errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r for r in caplog.records if r.name == "framepipe.monitor" and r.levelno >= logging.ERROR
    ]


class TestHandlerFailures:
    def test_an_exception_is_a_one_line_500_logged_and_serving_goes_on(
        self, api: tuple[StatsServer, Service], caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.ERROR, logger="framepipe.monitor")
        server, _ = api
        with Client(server) as client:
            reply = client.call("POST", "/streams/boom/restart")
            assert client.call("GET", "/streams").status == 200
        assert reply.status == 500
        assert reply.json() == {
            "error": "internal error (RuntimeError); the service's log says more"
        }
        assert b"Traceback" not in reply.body
        (record,) = _errors(caplog)
        assert "POST /streams/boom/restart" in record.getMessage()
        assert "the handler broke" in record.getMessage()
        assert record.exc_info is not None  # the traceback is in the log

    @pytest.mark.parametrize("name", ["not-json", "bad-header"])
    def test_an_answer_that_cannot_be_sent_is_a_500_and_logged(
        self, api: tuple[StatsServer, Service], caplog: pytest.LogCaptureFixture, name: str
    ) -> None:
        """A document that is not JSON, a header that would split the response."""
        caplog.set_level(logging.ERROR, logger="framepipe.monitor")
        server, _ = api
        with Client(server) as client:
            reply = client.call("GET", f"/streams/{name}")
        assert reply.status == 500
        assert "set-cookie" not in reply.headers
        assert reply.json()["error"].startswith("internal error")
        assert len(_errors(caplog)) == 1


def _call_in_thread(server: StatsServer, path: str, replies: list[Reply]) -> threading.Thread:
    def call() -> None:
        with Client(server) as client:
            replies.append(client.call("DELETE", path))

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    return thread


class TestConcurrency:
    def test_a_slow_request_does_not_hold_up_the_others(
        self, api: tuple[StatsServer, Service]
    ) -> None:
        """While a DELETE waits on its worker, reads are answered."""
        server, service = api
        replies: list[Reply] = []
        slow = _call_in_thread(server, "/streams/slow", replies)
        wait_until(lambda: service.waiting == 1, "the slow request to reach the handler")
        with Client(server) as client:
            started = time.monotonic()
            assert client.call("GET", "/streams").status == 200
            assert time.monotonic() - started < 2
        service.release.set()
        slow.join(HTTP_TIMEOUT_S)
        assert [r.json() for r in replies] == [{"slow": "slow"}]

    def test_more_than_the_requests_in_flight_is_503_with_retry_after(
        self, api: tuple[StatsServer, Service]
    ) -> None:
        server, service = api
        replies: list[Reply] = []
        threads = [
            _call_in_thread(server, f"/streams/slow-{n}", replies) for n in range(MAX_IN_FLIGHT)
        ]
        try:
            wait_until(lambda: service.waiting == MAX_IN_FLIGHT, "every slot taken")
            with Client(server) as client:
                refused = client.call("GET", "/streams")
        finally:
            service.release.set()
            for thread in threads:
                thread.join(HTTP_TIMEOUT_S)
        assert refused.status == 503
        assert refused.headers["retry-after"] == "1"
        assert "in flight" in refused.json()["error"]
        assert sorted(r.status for r in replies) == [200] * MAX_IN_FLIGHT
        assert "/streams" not in service.paths()  # the refused one never reached the handler
        with Client(server) as client:  # the slots are free again
            assert client.call("GET", "/streams").status == 200


class TestTimeouts:
    def test_no_answer_in_time_is_504_and_the_late_answer_goes_to_no_one_else(self) -> None:
        """The late answer comes down while another request waits: that one gets its own."""
        late, other_gate = threading.Event(), threading.Event()
        service = Service(gates={"slow-a": late, "slow-b": other_gate})
        with serve(port=0, api=service, api_timeout_s=1.0) as server, Client(server) as client:
            replies: list[Reply] = []
            try:
                started = time.monotonic()
                timed_out = client.call("POST", "/streams/slow-a/restart")
                waited = time.monotonic() - started
                other = _call_in_thread(server, "/streams/slow-b", replies)
                wait_until(lambda: service.waiting == 2, "both requests in the handler")
                late.set()
                wait_until(lambda: service.waiting == 1, "the late answer to be sent")
                time.sleep(0.2)  # and to reach the server process, while the other one waits
            finally:
                late.set()
                other_gate.set()
            other.join(HTTP_TIMEOUT_S)
            after = client.call("GET", "/streams/next")
        assert timed_out.status == 504
        assert timed_out.json() == {"error": "the service gave no answer within 1 s"}
        assert 1 <= waited < 10
        assert [r.json() for r in replies] == [{"slow": "slow-b"}]
        assert after.json() == {"method": "GET", "path": "/streams/next"}

    @pytest.mark.parametrize("value", [0, -1.0, float("nan"), float("inf"), "60", True])
    def test_api_timeout_s_must_be_a_positive_number(self, value: object) -> None:
        with pytest.raises(ValueError, match="api_timeout_s must be a positive number"):
            serve(port=0, api_timeout_s=value)  # type: ignore[arg-type]

    def test_a_restarted_server_process_loses_requests_in_flight_and_serves_on(self) -> None:
        """The killed process's client sees its connection drop; the answer to it, sent after
        the restart, is not taken for another request's."""
        service = Service()
        with serve(port=0, api=service) as server:
            replies: list[Reply] = []
            errors: list[BaseException] = []

            def call() -> None:
                try:
                    with Client(server) as client:
                        replies.append(client.call("DELETE", "/streams/slow"))
                except (OSError, http.client.HTTPException) as exc:
                    errors.append(exc)

            caller = threading.Thread(target=call, daemon=True)
            caller.start()
            wait_until(lambda: service.waiting == 1, "the slow request to reach the handler")
            killed = server.pid
            os.kill(killed, signal.SIGKILL)
            wait_until(lambda: process_ended(killed), "the server process to end")
            caller.join(HTTP_TIMEOUT_S)
            wait_until(lambda: server.pid != killed and _answers(server), "a new process", 20)
            service.release.set()
            wait_until(lambda: service.waiting == 0, "the slow handler to answer")
            with Client(server) as client:
                after = client.call("GET", "/streams/next")
        assert replies == [] and len(errors) == 1
        assert after.json() == {"method": "GET", "path": "/streams/next"}


class TestTheEnd:
    def test_stop_answers_a_request_waiting_for_its_answer_and_ends_the_threads(self) -> None:
        """A client waiting on a slow handler is told the service is stopping (not left to
        wait for api_timeout_s), the server process ends at once, and the handler's thread
        once the handler returns."""
        others = set(_api_threads())  # a server of other tests' may be running
        idle_s, waiting_s = [], []
        for _ in range(ROUNDS):  # the quickest of each: one stop a busy machine held up is noise
            idle_s.append(_seconds_to_stop(serve(port=0, api=Service())))  # nothing in flight
            waiting_s.append(_seconds_to_stop_while_a_request_waits())
        # Not the grace the server process gives a connection to end: as quick as an idle
        # server's stop (on a busy machine both take seconds).
        assert min(waiting_s) - min(idle_s) < CLOSE_TIMEOUT_S / 2, (waiting_s, idle_s)
        wait_until(lambda: set(_api_threads()) <= others, lambda: f"threads: {_api_threads()}")


def _seconds_to_stop_while_a_request_waits() -> float:
    """How long a server's process takes to end once ``stop()`` begins while a request waits
    on a slow handler; the request is answered 503, saying the service is stopping."""
    service = Service()
    server = serve(port=0, api=service)
    replies: list[Reply] = []

    def call() -> None:
        with Client(server) as client:
            replies.append(client.call("DELETE", "/streams/slow"))

    caller = threading.Thread(target=call, daemon=True)
    stopping = threading.Thread(target=server.stop, daemon=True)
    try:
        caller.start()
        wait_until(lambda: service.waiting == 1, "the slow request to reach the handler")
        child = server.pid
        started = time.monotonic()
        stopping.start()
        caller.join(HTTP_TIMEOUT_S)
        wait_until(lambda: process_ended(child), "the server process to end", timeout=10)
        ended_after = time.monotonic() - started
    finally:
        service.release.set()
        server.stop()
    stopping.join(HTTP_TIMEOUT_S)
    assert not caller.is_alive() and not stopping.is_alive()
    assert [r.status for r in replies] == [503]
    assert replies[0].json() == {"error": "the service is stopping: it takes no more requests"}
    return ended_after


def _seconds_to_stop(server: StatsServer) -> float:
    """How long ``server``'s process takes to end once ``stop()`` begins."""
    child = server.pid
    started = time.monotonic()
    server.stop()
    wait_until(lambda: process_ended(child), "the idle server process to end", timeout=10)
    return time.monotonic() - started


def _api_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("framepipe-monitor-api")]


def _answers(server: StatsServer) -> bool:
    try:
        return request(server, "/healthz").status == 200
    except OSError:
        return False


class TestTheRestIsUnchanged:
    def test_previews_and_other_endpoints_are_not_the_apis(self) -> None:
        """A stream's frames, the dashboard, stats and metrics are answered as without an API."""
        service = Service()
        with SyntheticRun() as run, serve(port=0, streams={"door": run}, api=service) as server:
            run.wait_for_frames(3)
            wait_for_json(server, "/system-resources", lambda d: d["pipeline"]["frames_processed"])
            frame = request(server, "/streams/door/frame.jpg")
            assert (frame.status, frame.headers["content-type"]) == (200, "image/jpeg")
            assert request(server, "/streams/door/stream.mjpg", method="HEAD").status == 200
            for path in ("/", "/dashboard.js", "/system-resources", "/metrics", "/healthz"):
                assert request(server, path).status == 200, path
            assert request(server, "/streams/door/frame.jpg", method="POST").status == 405
            assert request(server, "/metrics", method="POST").status == 405
        assert service.requests == []

    def test_without_an_api_streams_is_404_and_other_methods_405(self) -> None:
        with serve(port=0) as server:
            assert request(server, "/streams").status == 404
            assert request(server, "/streams/door").status == 404
            refused = request(server, "/streams", method="POST")
            assert (refused.status, refused.headers["allow"]) == (405, "GET, HEAD")
            assert request(server, "/streams/door", method="DELETE").status == 405


def reloads(ok: int, error: int) -> ServiceStats:
    return ServiceStats(config_reloads={"ok": ok, "error": error})


def _reload_lines(server: StatsServer) -> list[str]:
    text = request(server, "/metrics").body.decode()
    return [line for line in text.splitlines() if "framepipe_config_reloads" in line]


class TestServiceStats:
    def test_config_reloads_are_a_counter_with_both_results(self) -> None:
        counts = {"ok": 3, "error": 1}
        with serve(port=0, service=lambda: reloads(counts["ok"], counts["error"])) as server:
            lines = _reload_lines(server)
            counts["ok"] += 1  # read with each reading
            wait_until(
                lambda: 'framepipe_config_reloads_total{result="ok"} 4.0' in _reload_lines(server),
                "the new count",
            )
            document = request(server, "/system-resources").json()
            exposition = request(server, "/metrics").body
        assert lines == [
            "# HELP framepipe_config_reloads_total Times the service read its config file again, "
            "by result (ok: applied, error: refused).",
            "# TYPE framepipe_config_reloads_total counter",
            'framepipe_config_reloads_total{result="ok"} 3.0',
            'framepipe_config_reloads_total{result="error"} 1.0',
        ]
        assert document["service"] == {"config_reloads": {"ok": 4, "error": 1}}
        promtool = shutil.which("promtool") or (
            "/usr/bin/promtool" if os.path.exists("/usr/bin/promtool") else None
        )
        if promtool is not None:
            check = subprocess.run(
                [promtool, "check", "metrics"], input=exposition, capture_output=True, timeout=60
            )
            assert check.returncode == 0, check.stdout.decode() + check.stderr.decode()
            assert not check.stdout.strip() and not check.stderr.strip(), check.stderr.decode()

    def test_a_service_always_lists_its_streams_with_one_or_none(self) -> None:
        """A service's streams come and go: its document keeps one shape, a ``streams`` list,
        where a run of one stream has only ``pipeline``."""
        with serve(port=0, service=lambda: reloads(0, 0)) as server:
            assert request(server, "/system-resources").json()["streams"] == []
        with SyntheticRun() as run, serve(
            port=0, streams={"door": run}, service=lambda: reloads(0, 0)
        ) as server:
            document = wait_for_json(server, "/system-resources", lambda d: d["streams"])
        assert [stream["stream"] for stream in document["streams"]] == ["door"]
        with SyntheticRun() as run, serve(port=0, streams={"door": run}) as server:
            assert "streams" not in request(server, "/system-resources").json()

    def test_without_a_service_there_is_no_such_metric_or_key(self) -> None:
        with serve(port=0) as server:
            assert _reload_lines(server) == []
            assert "service" not in request(server, "/system-resources").json()

    @pytest.mark.parametrize(
        "provider",
        [
            pytest.param(lambda: 1 / 0, id="raises"),
            pytest.param(lambda: {"config_reloads": {"ok": "many"}}, id="not-counts"),
        ],
    )
    def test_a_provider_that_fails_is_logged_once_and_the_rest_is_served(
        self, caplog: pytest.LogCaptureFixture, provider: Any
    ) -> None:
        caplog.set_level(logging.ERROR, logger="framepipe.monitor")
        with SyntheticRun() as run, serve(port=0, pipeline=run, service=provider) as server:
            run.wait_for_frames(3)
            document = wait_for_json(
                server, "/system-resources", lambda d: d["pipeline"]["frames_processed"]
            )
            time.sleep(0.5)  # several readings, each asking the provider
            assert _reload_lines(server) == []
            metrics = request(server, "/metrics")  # the rest is served
            assert metrics.status == 200 and b"framepipe_frames_processed_total" in metrics.body
        assert "service" not in document
        failures = [r for r in _errors(caplog) if "service's stats" in r.getMessage()]
        assert len(failures) == 1, caplog.records
