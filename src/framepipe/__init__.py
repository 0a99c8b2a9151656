"""framepipe: a real-time video frame pipeline with a non-blocking queue logger.

The frame pipeline imports OpenCV, so it is loaded on first use: ``import framepipe.logging``
stays light for programs that only want the logger.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from framepipe.pipeline import Pipeline, PipelineConfig, PipelineReport, PipelineSnapshot
    from framepipe.streams import StreamsHandle, StreamsReport, run_streams, start_streams

__all__ = [
    "Pipeline",
    "PipelineConfig",
    "PipelineReport",
    "PipelineSnapshot",
    "StreamsHandle",
    "StreamsReport",
    "run_streams",
    "start_streams",
]

_STREAMS = ("StreamsHandle", "StreamsReport", "run_streams", "start_streams")
_LAZY = {
    name: "framepipe.streams" if name in _STREAMS else "framepipe.pipeline" for name in __all__
}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'framepipe' has no attribute {name!r}")
    return getattr(import_module(module_name), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
