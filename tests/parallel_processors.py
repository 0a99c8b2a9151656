"""Processors for the results, parallel-worker and metrics tests, importable by path from a
worker process (spawned workers rebuild them by module and name)."""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

from framepipe.typing import Frame

# A file whose presence makes ``dies_once`` kill its own process (the first worker to claim it).
DIE_MARKER_ENV = "FRAMEPIPE_TEST_DIE_MARKER"


def signature(frame: Frame) -> int:
    """A number that tells the frames of a synthetic scene apart."""
    return int(frame[::8, ::8].sum(dtype="int64"))


def takes_20_ms(frame: Frame) -> Frame:
    """A frame time that a busy machine's scheduling barely moves: its quantiles are the
    processor's, not those of the odd frame that waited for a core."""
    time.sleep(0.020)
    return frame


def jittery(frame: Frame) -> tuple[Frame, dict[str, int]]:
    """Takes 0 to 20 ms at random, and reports the frame's signature: frames finish out of
    order on several workers."""
    time.sleep(random.random() * 0.02)
    return frame, {"signature": signature(frame)}


def padded_results(frame: Frame) -> tuple[Frame, dict[str, str]]:
    """About 200 bytes of results a frame, after 1 ms."""
    time.sleep(0.001)
    return frame, {"pad": "x" * 200}


def odd_results(frame: Frame) -> tuple[Frame, object]:
    """Results JSON cannot hold on every frame whose signature is odd."""
    value = signature(frame)
    return frame, ({"odd": {value}} if value % 2 else {"even": value})


def fails_on_odd(frame: Frame) -> Frame:
    if signature(frame) % 2:
        raise ValueError("odd frame")
    return frame


def dies_once(frame: Frame) -> Frame:
    """SIGKILL its own process on the first frame after the marker file appears (claimed by
    renaming, so exactly one worker dies), after 5 ms per frame otherwise."""
    marker = os.environ.get(DIE_MARKER_ENV)
    if marker:
        try:
            Path(marker).rename(marker + ".claimed")
        except FileNotFoundError:
            pass
        else:
            os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(0.005)
    return frame


def slow_python(frame: Frame) -> Frame:
    """About 20 ms of pure-Python work a frame (holds the GIL)."""
    total = 0
    for value in range(200_000):
        total += value
    return frame


def not_parallel(frame: Frame) -> Frame:
    return frame


not_parallel.parallel_safe = False  # type: ignore[attr-defined]


class Overlap:
    """Counts how many calls run at once (``most``), each taking ``seconds``."""

    def __init__(self, seconds: float = 0.1) -> None:
        import threading

        self.seconds = seconds
        self.running = self.most = 0
        self._lock = threading.Lock()

    def __call__(self, frame: Frame) -> Frame:
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(self.seconds)
        with self._lock:
            self.running -= 1
        return frame
