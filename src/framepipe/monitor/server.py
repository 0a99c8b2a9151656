"""``serve()`` and :class:`StatsServer`: the HTTP server on a background thread.

Bound to loopback unless told otherwise. Every connection has its own daemon thread; ``stop()``
ends the accept loop, ends the endless streams, closes every open connection and joins the
threads, each with a timeout, so a stuck client cannot hold up the program's exit.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from http.server import ThreadingHTTPServer
from types import TracebackType
from typing import Any

from framepipe.monitor.app import MonitorApp
from framepipe.monitor.handler import Handler
from framepipe.monitor.providers import (
    DEFAULT_STREAM,
    LogStatsProvider,
    Monitored,
    SnapshotProvider,
)

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "StatsServer", "serve"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5000
STOP_TIMEOUT_S = 5.0
_POLL_S = 0.1  # how soon the accept loop notices stop()


class _HTTPServer(ThreadingHTTPServer):
    """Keeps its connections, so stop() can close them and join their threads with a timeout."""

    daemon_threads = True
    block_on_close = False  # the stdlib would join every thread without a timeout

    def __init__(self, address: tuple[str, int], app: MonitorApp) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.app = app
        self._lock = threading.Lock()
        self._connections: dict[socket.socket, threading.Thread] = {}
        super().__init__(address, Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name="framepipe-monitor-connection",
            daemon=True,
        )
        with self._lock:
            self._connections[request] = thread
        thread.start()

    def shutdown_request(self, request: Any) -> None:
        with self._lock:
            self._connections.pop(request, None)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up or timed out is not an error worth a traceback on stderr."""

    def close_connections(self, timeout: float) -> None:
        with self._lock:
            connections = list(self._connections.items())
        for sock, _ in connections:
            try:
                sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked reading or writing
            except OSError:
                pass
        deadline = time.monotonic() + timeout
        for _, thread in connections:
            thread.join(max(0.0, deadline - time.monotonic()))


class StatsServer:
    """A running stats server; ``stop()`` (or leaving the ``with`` block) shuts it down."""

    def __init__(self, monitored: Monitored, host: str, port: int) -> None:
        self._app = MonitorApp(monitored)
        self._server = _HTTPServer((host, port), self._app)
        self._stopped = False
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": _POLL_S},
            name="framepipe-monitor",
            daemon=True,
        )
        self._thread.start()

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)`` actually bound: port 0 asked for a free one, this is the one."""
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Stop serving and close every connection; calling it again does nothing."""
        if self._stopped:
            return
        self._stopped = True
        self._app.stopping.set()
        self._server.shutdown()  # returns once serve_forever has left its loop
        self._thread.join(timeout)
        self._server.close_connections(timeout)
        self._server.server_close()

    def __enter__(self) -> StatsServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "stopped" if self._stopped else "serving"
        return f"<StatsServer {self.url} ({state})>"


def serve(
    port: int = DEFAULT_PORT,
    host: str = DEFAULT_HOST,
    pipeline: SnapshotProvider | None = None,
    logger: LogStatsProvider | None = None,
    *,
    stream: str = DEFAULT_STREAM,
    stall_s: float | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> StatsServer:
    """Serve the stats of this process, its logger and (optionally) a pipeline, in the background.

    ``pipeline`` is anything with ``snapshot()``; it is reported under the ``stream`` label.
    ``logger`` defaults to the process-wide logger. ``stall_s`` is how old the last frame may get
    before ``/readyz`` says 503 (default: 3 s or 10 budgets, whichever is longer); ``clock`` is
    the clock of the snapshots' ``last_frame_at``. Port 0 picks a free port (see ``.address``).
    Raises ``OSError`` when the address cannot be bound.
    """
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"port must be an integer from 0 to 65535, but got {port!r}")
    if not isinstance(host, str) or not host:
        raise ValueError(f"host must be a non-empty string, but got {host!r}")
    streams = {} if pipeline is None else {stream: pipeline}
    monitored = Monitored(streams=streams, logger=logger, stall_s=stall_s, clock=clock)
    return StatsServer(monitored, host, port)
