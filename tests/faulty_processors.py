"""Processors for the multi-stream tests that misbehave, importable by path from a worker."""

from __future__ import annotations

import ctypes
import os
import time
from pathlib import Path

from framepipe.typing import Frame

# A file ``stuck`` creates once it holds a frame, so a test knows the worker is inside it.
STUCK_MARKER_ENV = "FRAMEPIPE_TEST_STUCK_MARKER"


def stuck(frame: Frame) -> Frame:
    """Hold the frame loop for a minute: a worker that cannot stop after its current frame."""
    marker = os.environ.get(STUCK_MARKER_ENV)
    if marker:
        Path(marker).touch()
    time.sleep(60)
    return frame


def segfault(frame: Frame) -> Frame:
    """Read address 0: the worker process dies of SIGSEGV, as with a crashing native library."""
    ctypes.string_at(0)
    return frame
