"""HTTP for the stats server: routing, JSON and error answers, the SSE and MJPEG streams.

Each connection has its own thread and a socket timeout, so a slow or stalled client only ever
holds up itself; the frame loop is never waited on. Connections are kept alive (HTTP/1.1), which
is what browsers and Prometheus do, except for the two endless streams. With an API, requests on
``/streams`` and ``/streams/NAME[/restart]`` (any method) are checked and forwarded to the
watched process, and its answer is sent as it is.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from functools import cache
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from importlib import resources
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from framepipe.monitor.api import ApiRequest
from framepipe.monitor.api_http import Refused, body_length, is_api_path, read_json_body
from framepipe.monitor.app import MonitorApp
from framepipe.monitor.hosts import host_allowed, host_name
from framepipe.monitor.jpeg import PreviewError
from framepipe.monitor.reading import ApiReply
from framepipe.monitor.store import ReadingError

__all__ = ["ENDPOINTS", "Handler"]

SOCKET_TIMEOUT_S = 10.0  # a client that sends or reads nothing for this long is dropped
EVENT_INTERVAL_S = 1.0
MJPEG_POLL_S = 0.25
_BOUNDARY = "framepipe-frame"
_KINDS = ("frame.jpg", "stream.mjpg")  # a stream's previews, under /streams/NAME/

# The dashboard's files, served from the package: no CDN, nothing fetched at run time.
_ASSETS = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/dashboard.js": ("dashboard.js", "text/javascript; charset=utf-8"),
    "/dashboard.css": ("dashboard.css", "text/css; charset=utf-8"),
}
ENDPOINTS = (
    "/",
    "/system-resources",
    "/metrics",
    "/healthz",
    "/readyz",
    "/events",
    "/history",
    "/frame.jpg",
    "/stream.mjpg",
)


@cache
def _asset(name: str) -> bytes:
    return (resources.files("framepipe.monitor") / "dashboard" / name).read_bytes()


class Handler(BaseHTTPRequestHandler):
    """One connection; ``server.app`` (a :class:`MonitorApp`) has the answers."""

    protocol_version = "HTTP/1.1"
    server_version = "framepipe-monitor"
    timeout = SOCKET_TIMEOUT_S
    # An answer goes out in one write, but the endless streams write their headers first: with
    # Nagle's algorithm their first part would wait for the client's delayed ACK (~40 ms).
    disable_nagle_algorithm = True
    _answered = False  # the status line of the current request went out
    _headers_buffer: list[bytes]  # BaseHTTPRequestHandler's, written out by flush_headers()

    @property
    def app(self) -> MonitorApp:
        app: MonitorApp = self.server.app  # type: ignore[attr-defined]
        return app

    def do_GET(self) -> None:
        self._dispatch(head=False)

    def do_HEAD(self) -> None:
        self._dispatch(head=True)

    def __getattr__(self, name: str) -> Callable[[], None]:
        # BaseHTTPRequestHandler looks up do_<METHOD>; every method but GET and HEAD is a 405,
        # except on the API's paths, where any method goes to the API.
        if name.startswith("do_"):
            return self._other_method
        raise AttributeError(name)

    def handle_expect_100(self) -> bool:
        """No ``100 Continue`` for a body that will be refused unread: the refusal instead."""
        try:
            body_length(self.headers)
        except Refused:
            return True  # the request's method answers with the refusal
        return super().handle_expect_100()

    def _other_method(self) -> None:
        if self._api_path() is not None:
            self._dispatch(head=False)
        else:
            self._method_not_allowed()

    def _api_path(self) -> str | None:
        """The request's URL-decoded path when it is the API's, else None."""
        if self.app.api is None:
            return None
        path = unquote(urlsplit(self.path).path)
        return path if is_api_path(path) else None

    def _method_not_allowed(self) -> None:
        self.close_connection = True  # a request body we do not read must not be parsed as HTTP
        self._send_json(
            HTTPStatus.METHOD_NOT_ALLOWED,
            {"error": f"method not allowed: {self.command}"},
            head=False,
            headers={"Allow": "GET, HEAD", "Connection": "close"},
        )

    def _dispatch(self, *, head: bool) -> None:
        path = urlsplit(self.path).path
        self._answered = False
        host = self.headers.get("Host")
        if not host_allowed(host, self.app.allowed_hosts):
            refusal = (
                f"host {host_name(host or '')!r} is not answered here (a guard against DNS "
                "rebinding): use an IP address or localhost, or allow the name with "
                "--stats-allow-host"
            )
            self.close_connection = True
            self._send_json(HTTPStatus.FORBIDDEN, {"error": refusal}, head=head)
            return
        try:
            api_path = self._api_path()
            if api_path is not None:
                self._api(api_path, head=head)
            elif path in _ASSETS:
                name, content_type = _ASSETS[path]
                self._send(HTTPStatus.OK, content_type, _asset(name), head=head)
            elif path == "/system-resources":
                self._send_json(HTTPStatus.OK, self.app.system_resources(), head=head)
            elif path == "/metrics":
                body, content_type = self.app.metrics(self.headers.get("Accept", ""))
                self._send(HTTPStatus.OK, content_type, body, head=head)
            elif path == "/history":
                body = self.app.history.json()
                self._send(HTTPStatus.OK, "application/json", body, head=head)
            elif path == "/healthz":
                self._send_json(HTTPStatus.OK, {"status": "ok"}, head=head)
            elif path == "/readyz":
                readiness = self.app.readiness()
                status = HTTPStatus.OK if readiness.ready else HTTPStatus.SERVICE_UNAVAILABLE
                self._send_json(status, readiness.to_dict(), head=head)
            elif path == "/frame.jpg":
                if not self._several_streams(head=head):
                    self._frame(head=head)
            elif path == "/events":
                self._events(head=head)
            elif path == "/stream.mjpg":
                if not self._several_streams(head=head):
                    self._mjpeg(head=head)
            elif path.startswith("/streams/"):
                self._stream_preview(path, head=head)
            else:
                error = {"error": f"no such endpoint: {path}", "endpoints": list(ENDPOINTS)}
                self._send_json(HTTPStatus.NOT_FOUND, error, head=head)
        except OSError:
            self.close_connection = True  # the client went away or stalled past the timeout
        except Exception as exc:  # an answer failed to build: say so, keep serving
            if self._answered:  # mid-stream: the status line is gone, only closing is left
                self.close_connection = True
                return
            detail = str(exc) if isinstance(exc, ReadingError) else f"{type(exc).__name__}: {exc}"
            error = {"error": f"internal error: {detail}"}
            self._send_json(HTTPStatus.INTERNAL_SERVER_ERROR, error, head=head)

    # -- the API ---------------------------------------------------------------------------------

    def _api(self, path: str, *, head: bool) -> None:
        """Check the request, forward it to the watched process and send its answer."""
        api = self.app.api
        assert api is not None
        try:
            body = read_json_body(self.headers, self.rfile)
        except Refused as refusal:
            headers = None
            if refusal.close:  # its body is unread: what follows is no request
                self.close_connection = True
                headers = {"Connection": "close"}
            self._send_json(refusal.status, {"error": refusal.message}, head=head, headers=headers)
            return
        host, port = self.client_address[:2]
        client = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        request = ApiRequest(self.command, path, body, self.headers.get("Authorization"), client)
        try:
            answer = api.forward(request)
        except OSError:  # the watched process is going away
            error = {"error": "the service is stopping: it takes no more requests"}
            self._send_json(HTTPStatus.SERVICE_UNAVAILABLE, error, head=head)
            return
        if answer is None:
            error = {"error": f"the service gave no answer within {api.timeout_s:g} s"}
            self._send_json(HTTPStatus.GATEWAY_TIMEOUT, error, head=head)
            return
        self._send_reply(answer, head=head)

    def _send_reply(self, answer: ApiReply, *, head: bool) -> None:
        self.send_response(answer.status)
        if answer.body is not None:
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer.body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in answer.headers:
            self.send_header(name, value)
        self.end_headers()
        self._answered = True
        if answer.body is not None and not head:
            self.wfile.write(answer.body)

    # -- frames and streams ----------------------------------------------------------------------

    def _several_streams(self, *, head: bool) -> bool:
        """With several streams there is no one latest frame: a 404 naming each stream's own
        preview URLs, at once."""
        names = self.app.store.stream_names()
        if len(names) < 2:
            return False
        error = {
            "error": f"{len(names)} streams are watched: each has its own preview, at "
            "/streams/NAME/frame.jpg and /streams/NAME/stream.mjpg",
            "streams": names,
            "previews": [f"/streams/{quote(name)}/{kind}" for name in names for kind in _KINDS],
        }
        self._send_json(HTTPStatus.NOT_FOUND, error, head=head)
        return True

    def _stream_preview(self, path: str, *, head: bool) -> None:
        """``/streams/NAME/frame.jpg`` and ``/streams/NAME/stream.mjpg``."""
        name, _, kind = unquote(path[len("/streams/") :]).rpartition("/")
        names = self.app.store.stream_names()
        if kind not in _KINDS or name not in names:
            error = {"error": f"no such endpoint: {path}", "streams": names}
            self._send_json(HTTPStatus.NOT_FOUND, error, head=head)
        elif kind == "frame.jpg":
            self._frame(head=head, stream=name)
        else:
            self._mjpeg(head=head, stream=name)

    def _frame(self, *, head: bool, stream: str | None = None) -> None:
        if not self.app.has_stream:
            self._send_json(HTTPStatus.NOT_FOUND, {"error": "no pipeline attached"}, head=head)
            return
        try:
            jpeg = self.app.frame_jpeg(stream)
        except PreviewError as exc:
            self._no_preview(exc, head=head)
            return
        if jpeg is None:
            self._send_json(HTTPStatus.NOT_FOUND, {"error": "no frame yet"}, head=head)
            return
        self._send(HTTPStatus.OK, "image/jpeg", jpeg, head=head)

    def _no_preview(self, exc: PreviewError, *, head: bool) -> None:
        """The latest frame is no image (a processor's output): a 500 that says so."""
        self._send_json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": str(exc)}, head=head)

    def _events(self, *, head: bool) -> None:
        """Server-Sent Events: the ``/system-resources`` document once a second."""
        self._start_stream("text/event-stream")
        if head:
            return
        streaming = getattr(self.server, "streaming", None)
        if streaming is not None:
            streaming(threading.current_thread())
        self.wfile.write(f"retry: {int(EVENT_INTERVAL_S * 1000)}\n\n".encode())
        while True:
            ending = self.app.stopping.is_set()
            data = json.dumps(self.app.system_resources(), separators=(",", ":"))
            if ending:  # the final reading: the page shows it and stops listening
                self.wfile.write(f"event: end\ndata: {data}\n\n".encode())
                return
            self.wfile.write(f"data: {data}\n\n".encode())
            self.app.stopping.wait(EVENT_INTERVAL_S)

    def _mjpeg(self, *, head: bool, stream: str | None = None) -> None:
        """Each new JPEG of the latest frame as one part of a ``multipart/x-mixed-replace``.

        A frame that cannot be shown is a 500 that says why at the start, and ends the stream
        later (its status line is gone by then; the client's reconnect hears why).
        """
        if not self.app.has_stream:
            self._send_json(HTTPStatus.NOT_FOUND, {"error": "no pipeline attached"}, head=head)
            return
        try:
            jpeg = self.app.frame_jpeg(stream)
        except PreviewError as exc:
            self._no_preview(exc, head=head)
            return
        self._start_stream(f"multipart/x-mixed-replace; boundary={_BOUNDARY}")
        if head:
            return
        sent: bytes | None = None
        while True:
            if jpeg is not None and jpeg is not sent:
                header = (
                    f"--{_BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                    f"Content-Length: {len(jpeg)}\r\n\r\n"
                )
                self.wfile.write(header.encode() + jpeg + b"\r\n")
                sent = jpeg
            if self.app.stopping.wait(MJPEG_POLL_S):
                return
            jpeg = self.app.frame_jpeg(stream)

    # -- answers ---------------------------------------------------------------------------------

    def _start_stream(self, content_type: str) -> None:
        self.close_connection = True  # an endless body has no length: the end is the close
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", content_type)
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        self._answered = True

    def _send_json(
        self, status: HTTPStatus, document: Any, *, head: bool,
        headers: dict[str, str] | None = None,
    ) -> None:
        body = json.dumps(document).encode()
        self._send(status, "application/json", body, head=head, headers=headers)

    def _send(
        self, status: HTTPStatus, content_type: str, body: bytes, *, head: bool,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        # Headers and body in one write: one system call and one segment per answer, not two.
        self._headers_buffer.append(b"\r\n")
        if not head:
            self._headers_buffer.append(body)
        self._answered = True
        self.flush_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: one line per request on stderr would drown the run's own output."""
