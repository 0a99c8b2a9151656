"""Processors for the multi-stream tests that misbehave, importable by path from a worker."""

from __future__ import annotations

import ctypes
import time

from framepipe.typing import Frame


def stuck(frame: Frame) -> Frame:
    """Hold the frame loop for a minute: a worker that cannot stop after its current frame."""
    time.sleep(60)
    return frame


def segfault(frame: Frame) -> Frame:
    """Read address 0: the worker process dies of SIGSEGV, as with a crashing native library."""
    ctypes.string_at(0)
    return frame
