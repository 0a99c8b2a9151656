"""The frame workload: frames decoded once into memory, and the processor to run on them.

Decoding happens before any timed run, so decoder noise never enters the comparison. At most
``pool`` frames are kept (a 720p BGR frame is 2.8 MB) and the timed loop cycles through them: a
frame that large does not fit in a CPU cache anyway, so cycling costs what fresh frames cost.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from framepipe._text import hide_secrets

__all__ = ["DEFAULT_POOL", "DEFAULT_PROCESSOR", "DEFAULT_SOURCE", "Workload"]

DEFAULT_SOURCE = "synthetic:1280x720@30:10"
DEFAULT_PROCESSOR = "edges"
DEFAULT_POOL = 30

Frame = npt.NDArray[Any]


@dataclass(frozen=True)
class Workload:
    """Frames in memory plus the processor, described for the report."""

    frames: list[Frame]
    processor: Callable[[Frame], Any]
    source: str
    processor_name: str

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.frames[0].shape)

    @classmethod
    def load(
        cls,
        source: str = DEFAULT_SOURCE,
        processor_name: str = DEFAULT_PROCESSOR,
        frames: int = DEFAULT_POOL,
        pool: int = DEFAULT_POOL,
    ) -> Workload:
        """Decode up to ``min(frames, pool)`` frames of ``source`` and build the processor.

        Raises ValueError for an unknown processor or a source without frames, and the
        source's own ``SourceError`` when it cannot be opened.
        """
        if frames < 1:
            raise ValueError(f"frames must be at least 1, but got {frames!r}")
        if pool < 1:
            raise ValueError(f"pool must be at least 1, but got {pool!r}")
        from framepipe.pipeline.processors import get_processor
        from framepipe.pipeline.sources import open_source

        processor = get_processor(processor_name)  # ValueError before the source is opened
        wanted = min(frames, pool)
        decoded: list[Frame] = []
        opened = open_source(source)
        try:
            while len(decoded) < wanted:
                frame = opened.read()
                if frame is None:
                    break
                # A copy: some sources hand out a buffer they reuse for the next frame.
                decoded.append(np.array(frame, copy=True))
        finally:
            opened.release()
        shown = hide_secrets(source)  # reports and plots name the source: no password
        if not decoded:
            raise ValueError(f"source must deliver at least one frame, but {shown!r} gave none")
        return cls(
            frames=decoded, processor=processor, source=shown, processor_name=processor_name
        )

    def warm_up(self, count: int = 5) -> None:
        """Run the processor a few times untimed: first calls pay for allocations and caches."""
        for index in range(count):
            self.processor(self.frames[index % len(self.frames)])
