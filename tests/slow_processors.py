"""Processors for the multi-stream tests, importable by path from a worker process."""

from __future__ import annotations

import time

from framepipe.typing import Frame


def stuck(frame: Frame) -> Frame:
    """Hold the frame loop for a minute: a worker that cannot stop after its current frame."""
    time.sleep(60)
    return frame
