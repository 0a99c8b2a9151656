"""Watch a running process over HTTP: JSON stats, Prometheus metrics, health checks, a dashboard.

    from framepipe.monitor import serve
    with serve(port=5000, pipeline=pipeline):   # http://127.0.0.1:5000/
        pipeline.run()

Endpoints: ``/system-resources`` (JSON), ``/metrics`` (Prometheus), ``/healthz``, ``/readyz``,
``/`` (the dashboard), ``/events`` (Server-Sent Events), ``/frame.jpg`` and ``/stream.mjpg``;
with ``serve(api=handler)``, ``/streams`` and ``/streams/NAME[/restart]`` are ``handler``'s.
"""

from framepipe.monitor.api import (
    ApiAnswer,
    ApiHandler,
    ApiRequest,
    ServiceStats,
    ServiceStatsProvider,
)
from framepipe.monitor.providers import (
    HistogramProvider,
    LogStatsProvider,
    SnapshotProvider,
    default_stall_s,
)
from framepipe.monitor.server import DEFAULT_HOST, DEFAULT_PORT, StatsServer, serve

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "ApiAnswer",
    "ApiHandler",
    "ApiRequest",
    "HistogramProvider",
    "LogStatsProvider",
    "ServiceStats",
    "ServiceStatsProvider",
    "SnapshotProvider",
    "StatsServer",
    "default_stall_s",
    "serve",
]
