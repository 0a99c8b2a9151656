"""Log sinks the benchmark writes to: ordinary ``logging.Handler``s that count what they wrote.

- ``file``: append to a real file (the OS page cache absorbs the write).
- ``fsync``: flush and ``os.fsync`` after every record (durable logging).
- ``slow:MS``: format the record, then take MS milliseconds, like a network share or an SD card.

Every sink counts the records it emitted, so modes without counters of their own (stdlib,
loguru, picologging) report ``written`` from the sink.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "CountingHandler",
    "FileSink",
    "FsyncSink",
    "SinkSpec",
    "SlowSink",
    "parse_sink",
    "parse_sinks",
]

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_SLOW = re.compile(r"^slow:(?P<ms>\d+(?:\.\d+)?)$")


class CountingHandler(logging.Handler):
    """A handler counting the records it emitted (``handle`` holds the lock, so ``+=`` is safe)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter(_FORMAT))
        self.written = 0

    def emit(self, record: Any) -> None:
        try:
            self.deliver(self.format(record))
            self.written += 1
        except Exception:
            self.handleError(record)

    # Not named ``write``: loguru treats any sink with a ``write`` method as a stream and would
    # bypass ``handle``/``emit`` (and so the count).
    def deliver(self, text: str) -> None:
        """Deliver one formatted record; subclasses say where."""
        raise NotImplementedError


class FileSink(CountingHandler):
    """Append records to ``path``; the OS decides when they reach the disk."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = Path(path)
        self._stream = self.path.open("a", encoding="utf-8")

    def deliver(self, text: str) -> None:
        self._stream.write(text + "\n")
        self._stream.flush()

    def close(self) -> None:
        self.acquire()
        try:
            if not self._stream.closed:
                self._stream.close()
        finally:
            self.release()
        super().close()


class FsyncSink(FileSink):
    """Append records to ``path`` and ``fsync`` after each one: nothing is lost on power failure."""

    def deliver(self, text: str) -> None:
        super().deliver(text)
        os.fsync(self._stream.fileno())


class SlowSink(CountingHandler):
    """Format the record, then spend ``ms`` milliseconds in ``sleep`` (injectable for tests)."""

    def __init__(self, ms: float, sleep: Callable[[float], None] = time.sleep) -> None:
        if not ms >= 0:
            raise ValueError(f"ms must be >= 0, but got {ms!r}")
        super().__init__()
        self.ms = ms
        self._sleep = sleep

    def deliver(self, text: str) -> None:
        self._sleep(self.ms / 1000)


@dataclass(frozen=True)
class SinkSpec:
    """A parsed ``--sink`` item: its label and how to build a fresh sink for one run."""

    label: str
    kind: str  # "file" | "fsync" | "slow"
    ms: float = 0.0

    def create(self, directory: Path) -> CountingHandler:
        """Build a new sink; file sinks write a new file in ``directory``."""
        if self.kind == "slow":
            return SlowSink(self.ms)
        path = _fresh_path(Path(directory), self.kind)
        return FsyncSink(path) if self.kind == "fsync" else FileSink(path)


def parse_sink(text: str) -> SinkSpec:
    """Parse ``file``, ``fsync`` or ``slow:MS`` (MS a non-negative number of milliseconds)."""
    item = text.strip()
    if item in ("file", "fsync"):
        return SinkSpec(label=item, kind=item)
    match = _SLOW.match(item)
    if match is None:
        raise ValueError(
            f"sink must be file, fsync or slow:MS (MS in milliseconds), but got {text!r}"
        )
    ms = float(match["ms"])
    return SinkSpec(label=f"slow:{match['ms']}", kind="slow", ms=ms)


def parse_sinks(text: str) -> list[SinkSpec]:
    """Parse a comma-separated ``--sink`` list; duplicates are rejected."""
    specs = [parse_sink(item) for item in text.split(",")]
    labels = [spec.label for spec in specs]
    if len(set(labels)) != len(labels):
        raise ValueError(f"sinks must be distinct, but got {text!r}")
    return specs


def _fresh_path(directory: Path, stem: str) -> Path:
    counter = 0
    while (path := directory / f"{stem}-{counter}.log").exists():
        counter += 1
    return path
