"""``serve()`` and :class:`StatsServer`: the stats server, in a process of its own.

Answering HTTP in Python holds the GIL; done in the frame loop's process, 10 clients polling 20
times a second slowed the loop's median frame by a fifth. So the server runs in a child process
(``framepipe.monitor.host``), and this process only sends it a reading ten times a second from a
background thread. The child binds the address (loopback unless told otherwise), ends when this
process closes its stdin or dies, and ignores Ctrl-C, which is this process's to handle. A child
that ends by itself (killed, crashed) is logged as an ERROR and started again on the same address,
a few times at most, with a growing pause between attempts.

With an API handler, the child forwards API requests up its stdout, one line each; they run
here, on a small pool of threads (``framepipe.monitor.api_workers``), and their answers go down
its stdin between readings. A restarted child loses the requests that were in flight.
"""

from __future__ import annotations

import atexit
import logging
import math
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO

from framepipe._closing import Closing
from framepipe.monitor._once import LOGGER_NAME, OncePerKind
from framepipe.monitor.api import ApiHandler, ApiRequest, ServiceStatsProvider
from framepipe.monitor.api_wire import LINE_KIND, decode_request
from framepipe.monitor.api_workers import ApiWorkers
from framepipe.monitor.providers import (
    DEFAULT_STREAM,
    LogStatsProvider,
    Monitored,
    SnapshotProvider,
)
from framepipe.monitor.publisher import Publisher
from framepipe.monitor.reading import (
    DEFAULT_API_TIMEOUT_S,
    ApiReply,
    HostConfig,
    write_message,
)

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "StatsServer", "serve"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5000
# The child imports this very copy of framepipe: its location goes on the import path unless it
# is there already (an installed package's site-packages must not move ahead of the stdlib).
_START_HOST = (
    "import sys; root = sys.argv[1]; root in sys.path or sys.path.insert(1, root); "
    "from framepipe.monitor.host import main; raise SystemExit(main())"
)
START_TIMEOUT_S = 30.0  # a cold interpreter on a busy machine can take seconds to start
STOP_TIMEOUT_S = 5.0
MAX_RESTARTS = 3  # in a row: a server process that keeps dying is left dead, and logged so
RESTART_BACKOFF_S = 0.5  # before the first restart; doubled before each next one
STEADY_S = 60.0  # a process that served this long before it died starts the count afresh


class _Child:
    """One server process: its stdin, the thread reading its stdout, when it started."""

    def __init__(
        self,
        want_frames: Callable[[str], None],
        api_request: Callable[[str, ApiRequest], None] | None = None,
    ) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", _START_HOST, str(Path(__file__).resolve().parents[2])],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self.started_at = time.monotonic()
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None and stdout is not None  # both are pipes
        self.stdin = stdin
        self._want_frames = want_frames
        self._api_request = api_request
        self._failures = OncePerKind()
        self._first_line: queue.Queue[str] = queue.Queue(maxsize=1)
        self._reader = threading.Thread(
            target=self._read, args=(stdout,), name="framepipe-monitor-reader", daemon=True
        )
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.process.pid

    def start(self, config: HostConfig, publisher: Publisher) -> tuple[str, int]:
        """Send the settings and a first reading (before any client can connect); the address
        bound. Raises ``OSError`` when it cannot be bound, RuntimeError when the child fails."""
        write_message(self.stdin, config)
        publisher.publish(self.stdin)
        try:
            line = self._first_line.get(timeout=START_TIMEOUT_S)
        except queue.Empty:
            raise RuntimeError(f"stats server did not start within {START_TIMEOUT_S:g} s") from None
        kind, _, rest = line.partition(" ")
        if kind == "listening":
            port, _, host = rest.partition(" ")
            return host, int(port)
        if kind == "error":
            errno, _, message = rest.partition(" ")
            raise OSError(int(errno), message)
        code = self.process.wait(STOP_TIMEOUT_S)
        raise RuntimeError(f"stats server process ended on start (exit code {code})")

    def end(self, timeout: float) -> None:
        """Wait for the process, which its closed stdin ends; kill it if it does not."""
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout)
        self._reader.join(timeout)

    def abandon(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(STOP_TIMEOUT_S)
        try:
            self.stdin.close()
        except OSError:
            pass  # the pipe is broken: nothing was waiting to be written that matters now
        self._reader.join(STOP_TIMEOUT_S)

    def _read(self, stdout: IO[bytes]) -> None:
        """The first line is the address or the bind error; later lines ask for frames, or
        carry API requests."""
        try:
            with stdout:
                first = stdout.readline().decode(errors="replace").strip()
                self._first_line.put(first)
                for line in stdout:
                    kind, _, rest = line.decode(errors="replace").strip().partition(" ")
                    if kind == "frame" and rest:
                        self._want_frames(rest)
                    elif kind == LINE_KIND and self._api_request is not None:
                        self._api(rest)
        except Exception as exc:  # frames are then not asked for; everything else still works
            self._failures.error("reading the server process's requests", exc)

    def _api(self, text: str) -> None:
        assert self._api_request is not None
        try:
            request_id, request = decode_request(text)
        except ValueError as exc:  # the server process waits for an answer, then says 504
            self._failures.error("reading an API request", exc)
            return
        self._api_request(request_id, request)


class StatsServer(Closing):
    """A running stats server; ``stop()`` (or leaving the ``with`` block) shuts it down."""

    def __init__(
        self,
        monitored: Monitored,
        host: str,
        port: int,
        allow_hosts: tuple[str, ...] = (),
        api: ApiHandler | None = None,
        api_timeout_s: float = DEFAULT_API_TIMEOUT_S,
    ) -> None:
        self._allow_hosts = allow_hosts
        self._api_timeout_s = api_timeout_s
        self._stopped = False
        self._stopping = threading.Event()
        self._lock = threading.Lock()  # stop() against the swap to a restarted process
        self._monitored = monitored
        self._api = None if api is None else ApiWorkers(api, self._send)
        self._child = self._new_child()
        self._publisher = Publisher(monitored, self._child.stdin)
        try:
            self._address = self._child.start(self._config(host, port), self._publisher)
        except BaseException:
            self._stopped = True
            self._publisher.stop(0.0)
            self._child.abandon()
            raise
        self._publisher.start()
        self._watcher = threading.Thread(
            target=self._watch, name="framepipe-monitor-watcher", daemon=True
        )
        self._watcher.start()
        atexit.register(self.stop)  # a program that never calls stop() still ends the child tidily

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)`` actually bound: port 0 asked for a free one, this is the one."""
        return self._address

    @property
    def url(self) -> str:
        host, port = self._address
        return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"

    @property
    def pid(self) -> int:
        """The server process's id (a new one after a restart)."""
        return self._child.pid

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Close every connection and end the server process; calling it again does nothing."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            self._stopping.set()
            child = self._child
        atexit.unregister(self.stop)
        if self._api is not None:
            self._api.stop(0.0)  # no more requests: the threads end below
        self._publisher.stop(timeout)
        child.end(timeout)
        self._watcher.join(timeout)
        if self._api is not None:
            self._api.stop(timeout)

    def close(self) -> None:
        """The same as :meth:`stop`, so ``with serve(...):`` stops the server on every path."""
        self.stop()

    def __repr__(self) -> str:
        state = "stopped" if self._stopped else "serving"
        return f"<StatsServer {self.url} ({state})>"

    def _config(self, host: str, port: int) -> HostConfig:
        monitored = self._monitored
        return HostConfig(
            host, port, monitored.stall_s, os.getpid(), tuple(monitored.streams),
            self._allow_hosts, self._api is not None, self._api_timeout_s,
        )  # fmt: skip

    def _new_child(self) -> _Child:
        api_request = None if self._api is None else self._api.submit
        return _Child(self._want_frames, api_request)

    def _want_frames(self, stream: str) -> None:
        self._publisher.want_frames(stream)

    def _send(self, answer: ApiReply) -> None:
        """An API answer to the server process there is now (one that replaced the process
        that asked drops it: the id is not one of its own)."""
        self._publisher.send(answer)

    def _watch(self) -> None:
        """Wait for the server process to end; one that ends by itself is logged and replaced."""
        failures = OncePerKind()
        restarts = 0
        while True:
            child = self._child
            code = child.process.wait()
            if self._stopping.is_set():
                return
            try:
                if time.monotonic() - child.started_at >= STEADY_S:
                    restarts = 0  # it served a good while: this is a new failure, not a series
                restarts = self._replace(child, code, restarts)
            except Exception as exc:
                failures.error("restarting the server process", exc)
                return
            if restarts > MAX_RESTARTS:
                return

    def _replace(self, dead: _Child, code: int, restarts: int) -> int:
        """Log the end of ``dead``, start another on the same address; the restarts so far
        (more than :data:`MAX_RESTARTS`: none was started, and none will be)."""
        log = logging.getLogger(LOGGER_NAME)
        host, port = self._address
        dead.end(STOP_TIMEOUT_S)  # reaped, and its reader has seen the end of its output
        log.error(
            "stats server process %d ended unexpectedly (%s): %s:%d does not answer until "
            "it is restarted",
            dead.pid, _describe_exit(code), host, port,
        )  # fmt: skip
        while restarts < MAX_RESTARTS:
            restarts += 1
            if self._stopping.wait(RESTART_BACKOFF_S * 2 ** (restarts - 1)):
                return restarts
            try:
                child = self._new_child()
            except OSError as exc:
                log.error("stats server restart %d of %d failed: %s", restarts, MAX_RESTARTS, exc)
                continue
            try:
                child.start(self._config(host, port), self._publisher)
            except (OSError, RuntimeError) as exc:
                child.abandon()
                log.error("stats server restart %d of %d on %s:%d failed: %s",
                          restarts, MAX_RESTARTS, host, port, exc)  # fmt: skip
                continue
            with self._lock:
                if self._stopping.is_set():  # stop() came while it started: it owns no process
                    child.abandon()
                    return restarts
                self._child = child
                self._publisher.attach(child.stdin)
            log.warning(
                "stats server restarted on %s:%d (process %d, restart %d of %d)",
                host, port, child.pid, restarts, MAX_RESTARTS,
            )  # fmt: skip
            return restarts
        log.error(
            "stats server on %s:%d not restarted again after %d restarts: monitoring is off",
            host, port, MAX_RESTARTS,
        )  # fmt: skip
        self._publisher.stop(0.0)
        return restarts + 1


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def serve(
    port: int = DEFAULT_PORT,
    host: str = DEFAULT_HOST,
    pipeline: SnapshotProvider | None = None,
    logger: LogStatsProvider | None = None,
    *,
    stream: str = DEFAULT_STREAM,
    stall_s: float | None = None,
    clock: Callable[[], float] = time.perf_counter,
    streams: Mapping[str, SnapshotProvider] | None = None,
    allow_hosts: Sequence[str] = (),
    api: ApiHandler | None = None,
    service: ServiceStatsProvider | None = None,
    api_timeout_s: float = DEFAULT_API_TIMEOUT_S,
) -> StatsServer:
    """Serve the stats of this process, its logger and (optionally) its streams, in the background.

    ``pipeline`` is anything with ``snapshot()``; it is reported under the ``stream`` label.
    ``streams`` instead maps names to such providers, one per stream (a ``pid`` attribute names
    the process to report memory and CPU for, a ``node`` attribute the machine).
    ``logger`` defaults to the process-wide logger. ``stall_s`` is how old the last frame may get
    before ``/readyz`` says 503 (default: 3 s or 10 budgets, whichever is longer); ``clock`` is
    the clock of the snapshots' ``last_frame_at``. Port 0 picks a free port (see ``.address``).
    ``allow_hosts`` are host names answered besides IP addresses, ``localhost`` and ``host``
    (requests naming any other ``Host`` get a 403: a guard against DNS rebinding).

    ``api`` answers the requests on ``/streams``, ``/streams/NAME`` and
    ``/streams/NAME/restart`` (any method), in this process, on a few threads of its own; a
    request waits at most ``api_timeout_s`` for it (then 504). ``service`` is read with each
    reading for a service's own counters (``/metrics``, ``/system-resources``).
    Raises ``OSError`` when the address cannot be bound.
    """
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"port must be an integer from 0 to 65535, but got {port!r}")
    if not isinstance(host, str) or not host:
        raise ValueError(f"host must be a non-empty string, but got {host!r}")
    if pipeline is not None and streams is not None:
        raise ValueError("give either pipeline= or streams=, not both")
    if isinstance(api_timeout_s, bool) or not isinstance(api_timeout_s, int | float) or not (
        math.isfinite(api_timeout_s) and api_timeout_s > 0
    ):
        raise ValueError(f"api_timeout_s must be a positive number, but got {api_timeout_s!r}")
    if streams is None:
        streams = {} if pipeline is None else {stream: pipeline}
    # A mapping of one's own (a running stream set's views) is followed as streams come and go.
    streams = dict(streams) if isinstance(streams, dict) else streams
    monitored = Monitored(
        streams=streams, logger=logger, stall_s=stall_s, clock=clock, service=service
    )
    return StatsServer(monitored, host, port, tuple(allow_hosts), api, float(api_timeout_s))
