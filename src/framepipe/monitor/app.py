"""What each endpoint answers, apart from HTTP: one object shared by every request thread."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from framepipe.monitor.health import not_ready_reasons
from framepipe.monitor.jpeg import JpegCache
from framepipe.monitor.metrics import build_registry, render
from framepipe.monitor.providers import Monitored
from framepipe.monitor.resources import ProcessSampler, system_resources

__all__ = ["MonitorApp", "Readiness"]


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
    """The answers: built from snapshots and logger counters at the moment they are asked for."""

    def __init__(self, monitored: Monitored) -> None:
        self.monitored = monitored
        self.sampler = ProcessSampler()
        self.registry = build_registry(monitored)
        self.jpeg = JpegCache()
        self.stopping = threading.Event()  # set by the server's stop(): streams end

    @property
    def has_stream(self) -> bool:
        return bool(self.monitored.streams)

    def system_resources(self) -> dict[str, Any]:
        snapshots = self.monitored.snapshots()
        # One stream is all a server carries today; several named ones will need their own key.
        snapshot = next(iter(snapshots.values()), None)
        return system_resources(
            self.sampler, self.monitored.log_stats(), snapshot, self.monitored.clock()
        )

    def metrics(self, accept: str) -> tuple[bytes, str]:
        return render(self.registry, accept)

    def readiness(self) -> Readiness:
        snapshots = self.monitored.snapshots()
        limits = {name: self.monitored.stall_limit_s(s) for name, s in snapshots.items()}
        reasons = not_ready_reasons(
            snapshots, limits, self.monitored.log_stats(), self.monitored.clock()
        )
        return Readiness(tuple(reasons))

    def frame_jpeg(self) -> bytes | None:
        """The latest processed frame of the (first) stream as JPEG; None before any frame."""
        provider = next(iter(self.monitored.streams.values()), None)
        if provider is None:
            return None
        return self.jpeg.get(provider.snapshot().latest_frame)
