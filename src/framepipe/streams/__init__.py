"""Several streams on one machine: a worker process per stream, supervised by this one.

``run_streams(sources, processor=..., config=...)`` runs them to the end and returns a
:class:`StreamsReport`; ``start_streams(...)`` returns a :class:`StreamsHandle` to ``stop()``,
``snapshot()`` and ``wait()`` on. ``framepipe run A B ...`` is the command-line form.
``engine="ray"`` (or a :class:`RayEngine`) runs each stream in a Ray actor instead, on a cluster.
"""

from framepipe.streams.api import (
    StreamsHandle,
    StreamView,
    run_streams,
    start_streams,
    stream_output,
)
from framepipe.streams.engine import LocalEngine
from framepipe.streams.ray_engine import RayEngine, RayNotInstalled, RayStartError
from framepipe.streams.report import Attempt, StreamResult, StreamsReport

__all__ = [
    "Attempt",
    "LocalEngine",
    "RayEngine",
    "RayNotInstalled",
    "RayStartError",
    "StreamResult",
    "StreamView",
    "StreamsHandle",
    "StreamsReport",
    "run_streams",
    "start_streams",
    "stream_output",
]
