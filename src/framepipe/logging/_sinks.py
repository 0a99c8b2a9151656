"""The default sink: a rotating file written once per batch."""

from __future__ import annotations

import logging
import logging.handlers
import os
import time
from collections.abc import Sequence

__all__ = ["DEFAULT_DATEFMT", "DEFAULT_FORMAT", "BatchRotatingFileHandler", "default_log_path"]

DEFAULT_FORMAT = "%(asctime)s.%(msecs)03d %(levelname)-8s %(name)s: %(message)s"
DEFAULT_DATEFMT = "%Y-%m-%d %H:%M:%S"


def default_log_path(log_dir: str | os.PathLike[str], now: float | None = None) -> str:
    """``<log_dir>/logs_YYYYmmdd_HHMMSS.txt`` for the local time ``now``."""
    stamp = time.strftime("%Y%m%d_%H%M%S", time.localtime(now))
    return os.path.join(os.fspath(log_dir), f"logs_{stamp}.txt")


class BatchRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A ``RotatingFileHandler`` that also takes a whole batch: one write and one flush per batch.

    Rotation happens between records, so no record is split across files and each file stays
    under ``maxBytes`` unless a single record is larger.
    """

    def emit_batch(self, records: Sequence[logging.LogRecord]) -> None:
        """Format and write ``records``; raises on I/O errors (the caller counts them)."""
        lines = [self.format(record) + self.terminator for record in records]
        with self.lock:  # type: ignore[union-attr]
            if self.stream is None:  # closed by rollover failure or delay=True
                self.stream = self._open()
            pending: list[str] = []
            size = self.stream.tell() if self.maxBytes > 0 else 0
            for line in lines:
                n = len(line) if line.isascii() else len(line.encode(self.encoding or "utf-8"))
                if self.maxBytes > 0 and size > 0 and size + n > self.maxBytes:
                    self._write(pending)
                    pending = []
                    self.doRollover()
                    size = 0
                pending.append(line)
                size += n
            self._write(pending)

    def _write(self, lines: list[str]) -> None:
        if lines and self.stream is not None:
            self.stream.write("".join(lines))
            self.stream.flush()
