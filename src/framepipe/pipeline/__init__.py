"""The frame pipeline: sources, the reader thread, the frame loop, outputs and statistics.

``Pipeline(source, processor=fn).run()`` is the entry point; see :mod:`framepipe.pipeline.runner`.
"""

from __future__ import annotations

from framepipe.pipeline.config import PipelineConfig
from framepipe.pipeline.live import PipelineSnapshot
from framepipe.pipeline.output import OutputError
from framepipe.pipeline.progress import Progress
from framepipe.pipeline.report import PipelineReport
from framepipe.pipeline.runner import Pipeline, PipelineError, PipelineLogger
from framepipe.pipeline.sources import Source, SourceError, SourceInfo, open_source
from framepipe.pipeline.stats import FrameSummary
from framepipe.typing import DropPolicy

__all__ = [
    "DropPolicy",
    "FrameSummary",
    "OutputError",
    "Pipeline",
    "PipelineConfig",
    "PipelineError",
    "PipelineLogger",
    "PipelineReport",
    "PipelineSnapshot",
    "Progress",
    "Source",
    "SourceError",
    "SourceInfo",
    "open_source",
]
