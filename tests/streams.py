"""A real live stream for the tests: MPEG-TS served by the pip-provided ffmpeg on 127.0.0.1.

``StreamServer`` can be killed mid-run, paused (SIGSTOP: the connection stays open, nothing
arrives, as with a stalled camera) and started again on the same port, so reconnecting clients
can be tested against the real thing.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import threading
import time

import psutil

from helpers import free_port, wait_until
from video_files import ffmpeg_exe

__all__ = ["StreamServer"]


def _serving(pid: int, port: int) -> bool:
    """ffmpeg ``pid`` listens on ``port``, or already serves a client there: with ``listen=1``
    it stops listening once the first client (a reconnecting one can be quick) is accepted."""
    try:
        connections = psutil.Process(pid).net_connections(kind="tcp")
    except psutil.Error:
        return False
    return any(
        conn.laddr
        and conn.laddr.port == port
        and conn.status in (psutil.CONN_LISTEN, psutil.CONN_ESTABLISHED)
        for conn in connections
    )


# ffmpeg with listen=1 serves one client, then ends: with EPIPE or ECONNRESET (its exit status
# is AVERROR(e) & 0xff) when the client leaves early, such as an open that timed out on a busy
# machine. The server then starts it again on the same port, as a camera takes its next client;
# a kill (the test's, or a signal from another process) leaves it down.
CLIENT_LEFT = frozenset({256 - errno.EPIPE, 256 - errno.ECONNRESET})


class StreamServer:
    """ffmpeg serving a ``size`` test pattern at ``fps`` in real time to one TCP client at a
    time, until it is killed."""

    def __init__(self, port: int | None = None, size: str = "160x120", fps: int = 30) -> None:
        self.port = port if port is not None else free_port()
        self.size = size
        self.fps = fps
        self._process: subprocess.Popen[bytes] | None = None
        self._timers: list[threading.Timer] = []
        self._watchers: list[threading.Thread] = []
        self._lock = threading.RLock()  # the test's thread, its timers and the watchers

    @property
    def url(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """The serving ffmpeg's process id (None while stopped), for a child process to kill."""
        process = self._process
        return process.pid if process is not None else None

    def start(self, timeout: float = 15.0) -> StreamServer:
        """Start serving (again) on the same port; returns once ffmpeg listens."""
        with self._lock:
            self.kill()
            self._launch(timeout)
        return self

    def _launch(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            process = self._process = subprocess.Popen(
                [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi",
                 "-i", f"testsrc=size={self.size}:rate={self.fps}", "-c:v", "mpeg2video",
                 "-q:v", "5", "-f", "mpegts", f"{self.url}?listen=1"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip

            def listening(process: subprocess.Popen[bytes] = process) -> bool:
                return process.poll() is not None or _serving(process.pid, self.port)

            try:
                wait_until(
                    listening,
                    f"ffmpeg to listen on port {self.port}",
                    max(0.0, deadline - time.monotonic()),
                    interval=0.05,
                )
            except AssertionError:
                self.kill()
                raise
            if process.poll() is None:
                break
            if process.returncode not in CLIENT_LEFT or time.monotonic() >= deadline:
                self._process = None
                raise AssertionError(f"ffmpeg ended ({process.returncode}) before it listened")
        watcher = threading.Thread(target=self._serve_next, args=(process,), daemon=True)
        self._watchers.append(watcher)
        watcher.start()

    def _serve_next(self, process: subprocess.Popen[bytes]) -> None:
        """When ``process`` ends because its client left, and it was not replaced or killed:
        ffmpeg again, for the next client."""
        process.wait()
        with self._lock:
            if self._process is process and process.returncode in CLIENT_LEFT:
                try:
                    self._launch(15.0)
                except AssertionError:
                    pass  # down: the test sees refused connections, as after a kill

    def pause(self) -> None:
        """Stop sending without closing the connection (SIGSTOP)."""
        with self._lock:
            if self._process is not None:
                os.kill(self._process.pid, signal.SIGSTOP)

    def restart_after(self, delay_s: float, *, stall: bool = False) -> None:
        """Drop the stream now (kill it, or with ``stall`` stop sending) and serve it again on
        the same port ``delay_s`` later, from a timer thread that leaving the ``with`` joins."""
        if stall:
            self.pause()
        else:
            self.kill()
        timer = threading.Timer(delay_s, self.start)
        timer.daemon = True
        self._timers.append(timer)
        timer.start()

    def kill(self) -> None:
        """Kill the server (the client's connection drops); idempotent."""
        with self._lock:
            process, self._process = self._process, None
            if process is None:
                return
            try:
                process.kill()  # SIGKILL works on a stopped process too
            except ProcessLookupError:
                pass
            process.wait(10)

    def __enter__(self) -> StreamServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        for timer in self._timers:
            timer.join(30)
        self.kill()
        for watcher in self._watchers:
            watcher.join(30)
