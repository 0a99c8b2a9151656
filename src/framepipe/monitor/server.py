"""``serve()`` and :class:`StatsServer`: the stats server, in a process of its own.

Answering HTTP in Python holds the GIL; done in the frame loop's process, 10 clients polling 20
times a second slowed the loop's median frame by a fifth. So the server runs in a child process
(``framepipe.monitor.host``), and this process only sends it a reading ten times a second from a
background thread. The child binds the address (loopback unless told otherwise), ends when this
process closes its stdin or dies, and ignores Ctrl-C, which is this process's to handle.
"""

from __future__ import annotations

import atexit
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO

from framepipe._closing import Closing
from framepipe.monitor.providers import (
    DEFAULT_STREAM,
    LogStatsProvider,
    Monitored,
    SnapshotProvider,
)
from framepipe.monitor.publisher import Publisher
from framepipe.monitor.reading import HostConfig, write_message

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


class StatsServer(Closing):
    """A running stats server; ``stop()`` (or leaving the ``with`` block) shuts it down."""

    def __init__(self, monitored: Monitored, host: str, port: int) -> None:
        self._stopped = False
        self._process = subprocess.Popen(
            [sys.executable, "-c", _START_HOST, str(Path(__file__).resolve().parents[2])],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        stdin, stdout = self._process.stdin, self._process.stdout
        assert stdin is not None and stdout is not None  # both are pipes
        self._publisher = Publisher(monitored, stdin)
        self._first_line: queue.Queue[str] = queue.Queue(maxsize=1)
        self._reader = threading.Thread(
            target=self._read_child, args=(stdout,), name="framepipe-monitor-reader", daemon=True
        )
        self._reader.start()
        try:
            streams = tuple(monitored.streams)
            write_message(stdin, HostConfig(host, port, monitored.stall_s, os.getpid(), streams))
            self._publisher.publish()  # the first reading, before any client can connect
            self._address = self._wait_for_address()
        except BaseException:
            self._abandon()
            raise
        self._publisher.start()
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
        """The server process's id."""
        return self._process.pid

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Close every connection and end the server process; calling it again does nothing."""
        if self._stopped:
            return
        self._stopped = True
        atexit.unregister(self.stop)
        self._publisher.stop(timeout)
        try:
            self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout)
        self._reader.join(timeout)

    def close(self) -> None:
        """The same as :meth:`stop`, so ``with serve(...):`` stops the server on every path."""
        self.stop()

    def __repr__(self) -> str:
        state = "stopped" if self._stopped else "serving"
        return f"<StatsServer {self.url} ({state})>"

    def _read_child(self, stdout: IO[bytes]) -> None:
        """The first line is the address or the bind error; later lines ask for frames."""
        with stdout:
            first = stdout.readline().decode(errors="replace").strip()
            self._first_line.put(first)
            for line in stdout:
                if line.strip() == b"frame":
                    self._publisher.want_frames()

    def _wait_for_address(self) -> tuple[str, int]:
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
        code = self._process.wait(STOP_TIMEOUT_S)
        raise RuntimeError(f"stats server process ended on start (exit code {code})")

    def _abandon(self) -> None:
        self._stopped = True
        self._publisher.stop(0.0)
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait(STOP_TIMEOUT_S)
        self._reader.join(STOP_TIMEOUT_S)


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
) -> StatsServer:
    """Serve the stats of this process, its logger and (optionally) its streams, in the background.

    ``pipeline`` is anything with ``snapshot()``; it is reported under the ``stream`` label.
    ``streams`` instead maps names to such providers, one per stream (a ``pid`` attribute names
    the process to report memory and CPU for, a ``node`` attribute the machine).
    ``logger`` defaults to the process-wide logger. ``stall_s`` is how old the last frame may get
    before ``/readyz`` says 503 (default: 3 s or 10 budgets, whichever is longer); ``clock`` is
    the clock of the snapshots' ``last_frame_at``. Port 0 picks a free port (see ``.address``).
    Raises ``OSError`` when the address cannot be bound.
    """
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"port must be an integer from 0 to 65535, but got {port!r}")
    if not isinstance(host, str) or not host:
        raise ValueError(f"host must be a non-empty string, but got {host!r}")
    if pipeline is not None and streams is not None:
        raise ValueError("give either pipeline= or streams=, not both")
    if streams is None:
        streams = {} if pipeline is None else {stream: pipeline}
    monitored = Monitored(streams=dict(streams), logger=logger, stall_s=stall_s, clock=clock)
    return StatsServer(monitored, host, port)
