"""Processors for the multi-stream tests that misbehave, importable by path from a worker."""

from __future__ import annotations

import ctypes
import os
import time
from collections import Counter
from pathlib import Path

from framepipe.typing import Frame

# A file ``stuck`` creates once it holds a frame, so a test knows the worker is inside it.
STUCK_MARKER_ENV = "FRAMEPIPE_TEST_STUCK_MARKER"

# The processors below that raise do so on the frame after this many (a test in the same process
# as them clears ``frames_seen`` first).
FRAMES_BEFORE_FAULT = 5
frames_seen: Counter[str] = Counter()


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


def _fault_due(name: str) -> bool:
    """Count a frame for ``name``: true from the frame after :data:`FRAMES_BEFORE_FAULT` on."""
    frames_seen[name] += 1
    return frames_seen[name] > FRAMES_BEFORE_FAULT


def exits(frame: Frame) -> Frame:
    """``sys.exit(3)`` inside a frame, as a library that thinks it is a program does."""
    if _fault_due("exits"):
        raise SystemExit(3)
    return frame


def interrupts(frame: Frame) -> Frame:
    """A KeyboardInterrupt of the processor's own (a worker ignores Ctrl-C itself)."""
    if _fault_due("interrupts"):
        raise KeyboardInterrupt
    return frame


def raises_base_exception(frame: Frame) -> Frame:
    """A bare BaseException, which no ``except Exception`` catches."""
    if _fault_due("raises_base_exception"):
        raise BaseException("out of band")
    return frame
