"""The last ten minutes at one point a second: what the dashboard's charts show when a page
opens mid-run, instead of starting empty.

The server process records a point a second from the latest reading (a few hundred bytes each),
in a bounded deque, so the history costs the same however long the run lasts.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Mapping
from typing import Any

__all__ = ["HISTORY_POINTS", "History", "chart_point"]

HISTORY_POINTS = 600  # ten minutes at one a second


def chart_point(document: Mapping[str, Any]) -> dict[str, Any]:
    """What the charts draw from one ``/system-resources`` document."""
    logging = document.get("logging", {})
    point: dict[str, Any] = {
        "memory_mb": document.get("memory_mb"),
        "cpu_percent": document.get("cpu_percent"),
        "queue_size": logging.get("queue_size"),
        "queue_maxsize": logging.get("queue_maxsize"),
    }
    pipeline = document.get("pipeline")
    if pipeline is not None:
        point["pipeline"] = _stream_point(pipeline)
    streams = document.get("streams")
    if streams is not None:
        point["streams"] = {
            entry["stream"]: {**_stream_point(entry), "cpu_percent": entry.get("cpu_percent")}
            for entry in streams
        }
    return point


def _stream_point(entry: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "fps": entry.get("fps"),
        "p50": entry.get("frame_ms", {}).get("p50"),
        "p99": entry.get("frame_ms", {}).get("p99"),
        "budget_ms": entry.get("budget_ms"),
    }


class History:
    """Chart points, oldest first, at most ``maxlen`` of them; any thread may add or read.

    The JSON of all points is built at most once per point added and shared by every request
    until the next: ten minutes of points asked for twenty times a second cost one encoding
    a second.
    """

    def __init__(self, maxlen: int = HISTORY_POINTS) -> None:
        self._points: deque[dict[str, Any]] = deque(maxlen=maxlen)
        self._lock = threading.Lock()
        self._json: bytes | None = None

    def add(self, document: Mapping[str, Any]) -> None:
        point = chart_point(document)
        with self._lock:
            self._points.append(point)
            self._json = None

    def points(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._points)

    def json(self) -> bytes:
        """All points as a JSON array."""
        with self._lock:
            if self._json is None:
                self._json = json.dumps(list(self._points), separators=(",", ":")).encode()
            return self._json
