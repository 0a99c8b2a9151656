"""Small helpers shared by the logger tests."""

from __future__ import annotations

import logging
from pathlib import Path

from framepipe.logging import Logger


def log_lines(log: Logger) -> list[str]:
    """Flush ``log`` and return the lines of its log file."""
    assert log.flush(timeout=10.0)
    return Path(log.get_stats()["log_file"]).read_text(encoding="utf-8").splitlines()


class ListHandler(logging.Handler):
    """A sink that keeps formatted lines in memory (a real handler, run by the writer)."""

    def __init__(self, fmt: str = "%(levelname)s %(name)s: %(message)s") -> None:
        super().__init__()
        self.lines: list[str] = []
        self.records: list[logging.LogRecord] = []
        self.setFormatter(logging.Formatter(fmt))

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.lines.append(self.format(record))


class GateHandler(ListHandler):
    """A sink that blocks until ``gate`` is set: lets a test fill the queue behind it."""

    def __init__(self) -> None:
        super().__init__()
        import threading

        self.gate = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.gate.wait(timeout=30)
        super().emit(record)
