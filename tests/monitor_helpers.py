"""Helpers shared by the stats server tests: a real frame loop to watch, and HTTP calls."""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import cv2

from framepipe.monitor import StatsServer, serve
from framepipe.pipeline import open_source
from framepipe.pipeline.histogram import FrameHistograms
from framepipe.pipeline.live import LiveWindow, PipelineSnapshot
from helpers import wait_until

SOURCE = "synthetic:320x240@30:60"
BUDGET_MS = 1000 / 30
HTTP_TIMEOUT_S = 10.0


class SyntheticRun:
    """A frame loop on the synthetic scene, paced like a 30 FPS camera, publishing as a run does.

    Each frame is read, blurred, timed, and published into a :class:`LiveWindow` and a pair of
    :class:`FrameHistograms`. ``stall()`` makes the loop stop taking frames (a camera that went
    quiet) until ``recover()``. ``snapshot()`` and ``histograms()`` are what the server reads.
    """

    def __init__(self, spec: str = SOURCE, budget_ms: float = BUDGET_MS) -> None:
        self.source = open_source(spec)
        self.budget_ms = budget_ms
        self.window = LiveWindow()
        self.pair = FrameHistograms.fixed()
        self.state = "starting"
        self.frames_read = 0
        self.frames_processed = 0
        self.budget_misses = 0
        self.reconnects = 0
        self._started_at = time.perf_counter()
        self._running = threading.Event()
        self._running.set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="synthetic-run", daemon=True)

    def __enter__(self) -> SyntheticRun:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._running.set()
        self._thread.join(timeout=10)
        self.source.release()

    def stall(self) -> None:
        self._running.clear()

    def recover(self) -> None:
        self._running.set()

    def wait_for_frames(self, count: int, timeout: float = 10.0) -> None:
        wait_until(
            lambda: self.frames_processed >= count,
            lambda: f"{count} frames (got {self.frames_processed})",
            timeout,
        )

    def _loop(self) -> None:
        interval = 1 / 30
        next_at = time.perf_counter()
        self.state = "running"
        while not self._stop.is_set():
            self._running.wait()
            captured_at = time.perf_counter()
            frame = self.source.read()
            if frame is None:
                break
            self.frames_read += 1
            t0 = time.perf_counter()
            out = cv2.GaussianBlur(frame, (5, 5), 0)
            t1 = time.perf_counter()
            frame_ms = (t1 - t0) * 1000
            self.window.publish(frame_ms, (t1 - captured_at) * 1000, t1, out)
            self.pair.observe(t1 - t0, t1 - captured_at)
            self.budget_misses += frame_ms > self.budget_ms
            self.frames_processed += 1
            next_at = max(next_at + interval, time.perf_counter())
            self._stop.wait(max(0.0, next_at - time.perf_counter()))
        self.state = "ended"

    def snapshot(self) -> PipelineSnapshot:
        now = time.perf_counter()
        return PipelineSnapshot(
            state=self.state,  # type: ignore[arg-type]  # tests also use "reconnecting"
            source=self.source.info.name,
            budget_ms=self.budget_ms,
            frames_read=self.frames_read,
            frames_processed=self.frames_processed,
            frames_dropped=0,
            frames_failed=0,
            budget_misses=self.budget_misses,
            reconnects=self.reconnects,
            elapsed_s=now - self._started_at,
            fps=self.window.fps(now),
            frame_ms=self.window.frame_ms(),
            frame_age_ms=self.window.frame_age_ms(),
            last_frame_at=self.window.last_finished_at,
            latest_frame=self.window.latest_frame,
        )

    def histograms(self) -> FrameHistograms:
        return self.pair


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes = field(repr=False)

    def json(self) -> Any:
        assert self.headers["content-type"] == "application/json", self.headers
        return json.loads(self.body)


def request(
    server: StatsServer, path: str, method: str = "GET", headers: dict[str, str] | None = None
) -> Response:
    """One request over a real socket; error statuses are returned, not raised."""
    url = server.url.rstrip("/") + path
    req = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT_S) as reply:
            return Response(reply.status, _lower(reply.headers.items()), reply.read())
    except urllib.error.HTTPError as error:
        with error:
            return Response(error.code, _lower(error.headers.items()), error.read())


def _lower(items: Any) -> dict[str, str]:
    return {name.lower(): value for name, value in items}


@contextmanager
def open_stream(server: StatsServer, path: str) -> Iterator[http.client.HTTPResponse]:
    """An endless response (``/events``, ``/stream.mjpg``) to read from, closed afterwards."""
    host, port = server.address
    connection = http.client.HTTPConnection(host, port, timeout=HTTP_TIMEOUT_S)
    try:
        connection.request("GET", path)
        yield connection.getresponse()
    finally:
        connection.close()


def read_event(response: http.client.HTTPResponse) -> dict[str, Any]:
    """The next ``data:`` event of a Server-Sent Events response, decoded."""
    while True:
        line = response.readline()
        assert line, "the event stream ended"
        if line.startswith(b"data: "):
            document: dict[str, Any] = json.loads(line[len(b"data: ") :])
            return document


def wait_for_json(
    server: StatsServer, path: str, condition: Callable[[Any], bool], timeout: float = 10.0
) -> Any:
    """Poll ``path`` until its JSON satisfies ``condition`` (readings arrive ten times a second)."""
    last: list[Any] = [None]

    def satisfied() -> tuple[Any] | None:
        last[0] = request(server, path).json()
        return (last[0],) if condition(last[0]) else None

    return wait_until(satisfied, lambda: f"{path} to satisfy the condition: {last[0]}", timeout)[0]


def serves_frames(document: Any) -> bool:
    return bool(document.get("pipeline", {}).get("frames_processed"))


@contextmanager
def watched_run(**serve_args: Any) -> Iterator[tuple[SyntheticRun, StatsServer]]:
    """A running synthetic loop with a stats server on a free port that has seen its frames."""
    with SyntheticRun() as run, serve(port=0, pipeline=run, **serve_args) as server:
        run.wait_for_frames(3)
        wait_for_json(server, "/system-resources", serves_frames)
        yield run, server
