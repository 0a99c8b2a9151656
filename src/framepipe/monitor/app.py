"""What each endpoint answers, apart from HTTP: one object shared by every request thread."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import partial
from typing import Any

from prometheus_client.exposition import choose_encoder

from framepipe.monitor.api_forward import ApiForwarder
from framepipe.monitor.health import not_ready_reasons
from framepipe.monitor.history import History
from framepipe.monitor.hosts import LOCAL_NAMES
from framepipe.monitor.metrics import build_registry, render
from framepipe.monitor.recent import Recent
from framepipe.monitor.resources import ProcessSampler, WorkerSamplers, system_resources
from framepipe.monitor.store import Store

__all__ = ["MonitorApp", "Readiness"]

LOCAL_ALLOWED = frozenset(LOCAL_NAMES)


@dataclass(frozen=True)
class Readiness:
    """``/readyz``: ready, or the reasons not (the first is the one to show)."""

    reasons: tuple[str, ...]

    @property
    def ready(self) -> bool:
        return not self.reasons

    def to_dict(self) -> dict[str, Any]:
        if self.ready:
            return {"status": "ready"}
        return {"status": "not ready", "reason": self.reasons[0], "reasons": list(self.reasons)}


class MonitorApp:
    """The answers, from the latest reading of the watched process (``pid``, default this one).

    ``/metrics`` is rendered at most ten times a second per format and shared, so scrapers
    polling fast cost no more than that.
    """

    def __init__(
        self,
        store: Store,
        *,
        has_stream: bool,
        pid: int | None = None,
        allowed_hosts: frozenset[str] = LOCAL_ALLOWED,
        api: ApiForwarder | None = None,
    ) -> None:
        self.store = store
        self.api = api  # where API requests go; None: there is no API
        self.has_stream = has_stream
        self.allowed_hosts = allowed_hosts  # ``Host`` names answered besides IP addresses
        self.sampler = ProcessSampler(pid)
        self.workers = WorkerSamplers()  # the streams' worker processes
        self.registry = build_registry(store, pid)
        self.stopping = threading.Event()  # set on shutdown: endless streams end
        self.history = History()
        self._metrics: dict[str, Recent[tuple[bytes, str]]] = {}
        self._metrics_lock = threading.Lock()

    def system_resources(self) -> dict[str, Any]:
        view = self.store.view()
        reading = view.reading
        return system_resources(
            self.sampler, reading.log_stats, reading.streams, view.now, self.workers,
            service=reading.service,
        )  # fmt: skip

    def record(self) -> None:
        """Add the current state to the charts' history (once a second, by the server)."""
        self.history.add(self.system_resources())

    def metrics(self, accept: str) -> tuple[bytes, str]:
        _, content_type = choose_encoder(accept)
        with self._metrics_lock:
            rendering = self._metrics.get(content_type)
            if rendering is None:
                rendering = Recent(partial(render, self.registry, accept))
                self._metrics[content_type] = rendering
        return rendering.get()

    def readiness(self) -> Readiness:
        view = self.store.view()
        streams = {name: stream.snapshot for name, stream in view.reading.streams.items()}
        limits = {name: self.store.stall_limit_s(stream) for name, stream in streams.items()}
        return Readiness(
            tuple(not_ready_reasons(streams, limits, view.reading.log_stats, view.now))
        )

    def frame_jpeg(self, stream: str | None = None) -> bytes | None:
        """The latest processed frame of ``stream`` (default: the first) as JPEG; None before
        any frame. Raises :class:`~framepipe.monitor.jpeg.PreviewError` when that frame is no
        image."""
        return self.store.jpeg(stream) if self.has_stream else None
