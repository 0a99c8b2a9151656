"""The stats server's own process, started by ``serve()`` (``python -m framepipe.monitor.host``).

It reads a :class:`HostConfig` and then readings from stdin, serves HTTP from the latest one, and
writes to stdout one line with the bound address (or the bind error), then ``frame NAME`` lines
when clients want a stream's pictures, and ``api <json>`` lines carrying API requests, whose
answers come back on stdin between the readings. It ends when stdin closes, which is also what
happens if the watched process dies in any way: the server never outlives it. Ctrl-C in the
terminal (SIGINT) and a hang-up or reload (SIGHUP) are the watched process's to handle: this one
ignores both.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from http.server import ThreadingHTTPServer
from typing import IO, Any, Protocol

from framepipe.monitor.api_forward import ApiForwarder
from framepipe.monitor.app import MonitorApp
from framepipe.monitor.handler import Handler
from framepipe.monitor.hosts import allowed_hosts
from framepipe.monitor.reading import ApiReply, HostConfig, Reading, read_message
from framepipe.monitor.store import Store

__all__ = ["HTTPServer", "main"]

NICENESS = 10  # under CPU contention the frame loop comes first
CLOSE_TIMEOUT_S = 5.0
FINAL_DELIVERY_S = 1.5  # at the end, how long open pages get to receive the final reading
LISTEN_BACKLOG = 1024  # the kernel caps it (somaxconn); the stdlib's 5 turns clients away
_POLL_S = 0.1
_HISTORY_INTERVAL_S = 1.0
_DEMAND_INTERVAL_S = 0.5  # at most two "frame" lines a second


class HTTPServer(ThreadingHTTPServer):
    """Keeps its connections, so shutting down can close them and join their threads in time."""

    daemon_threads = True
    block_on_close = False  # the stdlib would join every thread without a timeout
    request_queue_size = LISTEN_BACKLOG

    def __init__(self, address: tuple[str, int], app: MonitorApp) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.app = app
        self._lock = threading.Lock()
        self._connections: dict[Any, threading.Thread] = {}
        self._streaming: set[threading.Thread] = set()  # connections sending /events
        super().__init__(address, Handler)

    def streaming(self, thread: threading.Thread) -> None:
        """``thread`` serves an event stream: at the end, it sends the final reading itself."""
        with self._lock:
            self._streaming.add(thread)

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
            thread = self._connections.pop(request, None)
            if thread is not None:
                self._streaming.discard(thread)
        super().shutdown_request(request)

    def open_connections(self) -> tuple[int, int]:
        """``(connections, of which event streams)`` open now: both end with their clients."""
        with self._lock:
            return len(self._connections), len(self._streaming)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up or timed out is not an error worth a traceback on stderr."""

    def finish_streams(self, timeout: float) -> None:
        """Let the event streams send the final reading and end (the stop is set already)."""
        with self._lock:
            streaming = [t for t in self._connections.values() if t in self._streaming]
        deadline = time.monotonic() + timeout
        for thread in streaming:
            thread.join(max(0.0, deadline - time.monotonic()))

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


class _Lines:
    """This process's stdout to the watched process: whole lines, from any thread."""

    def __init__(self, out: IO[bytes]) -> None:
        self._out = out
        self._lock = threading.Lock()

    def write(self, line: bytes) -> None:
        """OSError when the watched process is going away (the pipe is broken or closed)."""
        with self._lock:
            try:
                self._out.write(line)
                self._out.flush()
            except ValueError as exc:  # closed
                raise BrokenPipeError(str(exc)) from None


class _LineSink(Protocol):
    def write(self, line: bytes, /) -> object: ...


class _Demand:
    """Tells the watched process, at most twice a second per stream, that a client wants that
    stream's frames."""

    def __init__(self, out: _LineSink, clock: Callable[[], float] = time.monotonic) -> None:
        self._out = out
        self._clock = clock
        self._lock = threading.Lock()
        self._said_at: dict[str, float] = {}

    def __call__(self, stream: str) -> None:
        with self._lock:
            now = self._clock()
            if now - self._said_at.get(stream, float("-inf")) < _DEMAND_INTERVAL_S:
                return
            self._said_at[stream] = now
            for name, said_at in list(self._said_at.items()):  # streams no longer watched
                if now - said_at >= _DEMAND_INTERVAL_S:
                    del self._said_at[name]
            try:
                self._out.write(f"frame {stream}\n".encode())
            except (OSError, ValueError):
                pass  # the watched process is going away; stdin will close next


def _record_history(app: MonitorApp) -> None:
    """A chart point a second until the server stops; a reading that fails is skipped."""
    while not app.stopping.wait(_HISTORY_INTERVAL_S):
        try:
            app.record()
        except Exception:  # an error reading (answered as 500 elsewhere): no point this second
            continue


def _say(out: IO[bytes], line: str) -> None:
    out.write(line.encode() + b"\n")
    out.flush()


def main() -> int:
    # The terminal's signals are the watched process's: Ctrl-C stops it, and SIGHUP stops it or,
    # for a service, reloads it. This process ends when its stdin closes, whichever it is.
    for name in ("SIGINT", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)
    try:
        os.nice(NICENESS)
    except (AttributeError, OSError):
        pass  # not on this platform, or not allowed: serve at the same priority
    source, out = sys.stdin.buffer, sys.stdout.buffer
    config = read_message(source)
    if not isinstance(config, HostConfig):
        return 2
    first = read_message(source)
    if not isinstance(first, Reading):
        return 2
    lines = _Lines(out)
    store = Store(config.stall_s, want_frames=_Demand(lines))
    store.put(first)
    api = ApiForwarder(lines.write, config.api_timeout_s) if config.api else None
    app = MonitorApp(
        store,
        has_stream=bool(config.streams),
        pid=config.parent_pid,
        allowed_hosts=allowed_hosts(config.host, config.allowed_hosts),
        api=api,
    )
    try:
        server = HTTPServer((config.host, config.port), app)
    except OSError as exc:
        _say(out, f"error {exc.errno or 0} {exc.strerror or exc}")
        return 1
    host, port = str(server.server_address[0]), int(server.server_address[1])
    _say(out, f"listening {port} {host}")
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": _POLL_S}, daemon=True
    )
    thread.start()
    recorder = threading.Thread(
        target=_record_history, args=(app,), name="framepipe-monitor-history", daemon=True
    )
    recorder.start()
    try:
        while (message := read_message(source)) is not None:
            if isinstance(message, ApiReply):
                if api is not None:
                    api.deliver(message)
            else:
                store.put(message)
    finally:
        app.stopping.set()  # event streams send the final reading, then end
        if api is not None:
            api.close(CLOSE_TIMEOUT_S)  # no answer comes once stdin is closed: say so
        server.shutdown()
        thread.join(CLOSE_TIMEOUT_S)
        server.finish_streams(FINAL_DELIVERY_S)
        server.close_connections(CLOSE_TIMEOUT_S)
        server.server_close()
        recorder.join(CLOSE_TIMEOUT_S)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
