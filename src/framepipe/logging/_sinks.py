"""The default sink: a rotating file written once per batch."""

from __future__ import annotations

import logging
import logging.handlers
import os
import time
from collections.abc import Sequence
from typing import TextIO

__all__ = [
    "DEFAULT_DATEFMT",
    "DEFAULT_FORMAT",
    "BatchRotatingFileHandler",
    "BatchWriteError",
    "default_log_path",
]

DEFAULT_FORMAT = "%(asctime)s.%(msecs)03d %(levelname)-8s %(name)s: %(message)s"
DEFAULT_DATEFMT = "%Y-%m-%d %H:%M:%S"


def default_log_path(log_dir: str | os.PathLike[str], now: float | None = None) -> str:
    """``<log_dir>/logs_YYYYmmdd_HHMMSS.txt`` for the local time ``now``."""
    stamp = time.strftime("%Y%m%d_%H%M%S", time.localtime(now))
    return os.path.join(os.fspath(log_dir), f"logs_{stamp}.txt")


class BatchWriteError(Exception):
    """A batch could not be written; its first ``written`` lines are in the file, whole."""

    def __init__(self, written: int, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.written = written
        self.cause = cause


class BatchRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A ``RotatingFileHandler`` that also takes a batch of formatted lines with one write.

    Rotation happens between lines, so no line is split across files and each file stays under
    ``maxBytes`` unless a single line is larger. Lines go to the file descriptor, not through the
    stream's buffer: a buffer would keep the bytes of a failed write (a full disk) and write them
    later, after they were counted as lost. Here a line is in the file when ``write_lines``
    returns, or it never will be.
    """

    def write_lines(self, lines: Sequence[str]) -> None:
        """Write ``lines`` (each with its terminator); raise ``BatchWriteError`` on failure."""
        written = 0
        with self.lock:  # type: ignore[union-attr]
            try:
                self._close_if_gone()
                stream = self._open_stream()  # before encoding: its encoding is the one used
                data = self._encode("".join(lines))
                size = os.fstat(stream.fileno()).st_size if self.maxBytes > 0 else 0
                if self.maxBytes <= 0 or size + len(data) <= self.maxBytes:
                    written += self._write(lines, data)  # the common case: no rollover
                    return
                start = 0
                for end, line in enumerate(lines):
                    n = len(line) if line.isascii() else len(self._encode(line))
                    if size > 0 and size + n > self.maxBytes:
                        written += self._write(lines[start:end])
                        start = end
                        self.doRollover()
                        size = 0
                    size += n
                written += self._write(lines[start:])
            except _PartialWrite as partial:
                raise BatchWriteError(written + partial.lines, partial.cause) from partial.cause
            except Exception as exc:
                raise BatchWriteError(written, exc) from exc

    def check_encodable(self, line: str) -> None:
        """Raise ``UnicodeEncodeError`` if ``line`` cannot be written in the file's encoding.

        A line that cannot be encoded (a lone surrogate in utf-8) must be refused on its own: in
        a batch it would fail the whole write.
        """
        with self.lock:  # type: ignore[union-attr]
            self._open_stream()
            self._encode(line)

    def emit(self, record: logging.LogRecord) -> None:
        """One record, as any ``logging.Handler``: through the same unbuffered write."""
        try:
            self.write_lines([self.format(record) + self.terminator])
        except Exception:
            self.handleError(record)

    def _close_if_gone(self) -> None:
        """Close the file when its name no longer leads to it (deleted, its directory removed,
        or a file system mounted over it), so ``_open_stream`` opens the name again: bytes
        written to a file nobody can reach are lost while counting as written. Opening fails
        while the directory is missing or read-only (counted, reported once), and works again
        once it is back."""
        stream = self.stream
        if stream is None:
            return
        known = getattr(self, "_opened", None)  # (stream, device, inode): one fstat per file
        if known is None or known[0] is not stream:
            try:
                info = os.fstat(stream.fileno())
            except (OSError, ValueError):  # no descriptor (an overridden _open): no comparing
                return
            known = self._opened = (stream, info.st_dev, info.st_ino)
        try:
            named = os.stat(self.baseFilename)
        except FileNotFoundError:
            named = None
        if named is None or (named.st_dev, named.st_ino) != known[1:]:
            self.stream = None
            stream.close()

    def _open_stream(self) -> TextIO:
        if self.stream is None:  # closed by a failed rollover, or delay=True
            self.stream = self._open()
        return self.stream

    def _encode(self, text: str) -> bytes:
        stream = self.stream
        encoding = getattr(stream, "encoding", None) or "utf-8"
        return text.encode(encoding, getattr(stream, "errors", None) or "strict")

    def _write(self, lines: Sequence[str], data: bytes | None = None) -> int:
        """Write ``lines`` (``data``: already encoded) with one ``write``; return how many."""
        if not lines:
            return 0
        stream = self._open_stream()
        stream.flush()  # nothing buffered may follow our bytes
        try:
            fd = stream.fileno()
        except (OSError, ValueError):  # a stream without a descriptor (from an overridden _open)
            stream.write("".join(lines))  # buffered: a failed write may still land later
            stream.flush()
            return len(lines)
        if data is None:
            data = self._encode("".join(lines))
        done = 0
        while done < len(data):
            try:
                done += os.write(fd, data[done:] if done else data)
            except OSError as exc:
                raise _PartialWrite(self._whole_lines(fd, lines, done), exc) from None
        return len(lines)

    def _whole_lines(self, fd: int, lines: Sequence[str], done: int) -> int:
        """How many of ``lines`` fit in ``done`` bytes; cut a partly written line off the file."""
        whole = used = 0
        for line in lines:
            n = len(self._encode(line))
            if used + n > done:
                break
            used += n
            whole += 1
        if used < done:
            try:
                ours = os.lseek(fd, 0, os.SEEK_CUR)  # append mode: the end of our bytes
                if os.fstat(fd).st_size == ours:  # nobody wrote after them
                    os.ftruncate(fd, ours - (done - used))
            except OSError:
                pass
        return whole


class _PartialWrite(Exception):
    def __init__(self, lines: int, cause: OSError) -> None:
        super().__init__(str(cause))
        self.lines = lines
        self.cause = cause
