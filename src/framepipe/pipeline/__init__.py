"""The frame pipeline: sources, the reader thread, the frame loop, outputs and statistics.

``Pipeline(source, processor=fn).run()`` is the entry point; see :mod:`framepipe.pipeline.runner`.
"""

from __future__ import annotations

from framepipe.pipeline.buffer import DropPolicy
from framepipe.pipeline.output import OutputError
from framepipe.pipeline.report import PipelineReport
from framepipe.pipeline.runner import Pipeline, PipelineError, Progress
from framepipe.pipeline.sources import Source, SourceError, SourceInfo, open_source

__all__ = [
    "DropPolicy",
    "OutputError",
    "Pipeline",
    "PipelineError",
    "PipelineReport",
    "Progress",
    "Source",
    "SourceError",
    "SourceInfo",
    "open_source",
]
