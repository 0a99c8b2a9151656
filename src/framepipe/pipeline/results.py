"""The results file: what processors found in each frame, one JSON line per frame, off the loop.

A processor may return ``(frame, results)``; the frame loop hands ``results`` to
:meth:`ResultsWriter.submit`, which only puts a tuple in a bounded queue and never waits: when
the queue is full the line is dropped and counted. The writer thread turns each entry into a line
``{"stream", "frame", "t", "results"}`` (numpy scalars and arrays become numbers and lists),
writes it to the file (rotated by size, like the log) or to stdout, and calls ``on_results``
with the line as written (numpy values made plain). A writer without a path only encodes the
lines and hands them to ``on_results``: what a stream's worker process uses to pass its lines
on to the one writer of the parent.

Counts are exact: every submitted entry ends as exactly one of ``written``, ``dropped`` (queue
full, or submitted after the writer closed) or ``errors`` (a value JSON cannot encode, or a
failed write). A callback that raises is counted in ``callback_errors`` (its line is written).
Each kind of problem is reported once on the ``report`` callback, never as a traceback on the
loop. :meth:`ResultsWriter.stats_of` tells the same counts for the lines of one stream (a
writer shared by several), with those still ``pending``, and :meth:`ResultsWriter.release` ends
one stream's part: its counts final, its lines still queued dropped and counted, a later stream
of the name counted afresh.

Results are encoded on the writer thread: a processor must not change a results value after it
returned it (return a new list or dict per frame, as the built-ins do).
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import math
import os
import queue
import stat
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from framepipe._closing import Closing
from framepipe._text import one_line

__all__ = [
    "RESULTS_BACKUP_COUNT",
    "RESULTS_MAX_BYTES",
    "ResultsCallback",
    "ResultsLine",
    "ResultsStats",
    "ResultsWriter",
    "check_results_path",
    "encode_results",
    "plain_results",
]

# The results file rotates as the log does: at 10 MiB, keeping 5 older files.
RESULTS_MAX_BYTES = 10 * 1024 * 1024
RESULTS_BACKUP_COUNT = 5

# A line the writer thread still has to write: the frame loop puts at most this many ahead.
QUEUE_SIZE = 1024
# Steady-state work between two pauses, in seconds: a frame loop waiting for the GIL behind a
# backlog of lines waits about this long, not a whole switch interval (as the log's writer).
BUDGET_S = 0.0005
PAUSE_S = 0.00005
CLOSE_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class ResultsLine:
    """One frame's results, as written: ``t`` is the frame's capture time in epoch seconds."""

    stream: str
    frame: int
    t: float
    results: Any


ResultsCallback = Callable[[ResultsLine], None]


@dataclass(frozen=True)
class ResultsStats:
    """What became of the submitted lines: ``written + dropped + errors + pending`` is every
    line submitted; ``pending`` counts lines accepted that the writer has not handled yet;
    ``callback_errors`` counts written lines whose ``on_results`` call raised."""

    written: int
    dropped: int
    errors: int
    callback_errors: int = 0
    pending: int = 0


def plain_results(value: Any) -> Any:
    """``value`` with numpy scalars and arrays made plain Python, for ``json``."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        return {key: plain_results(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain_results(item) for item in value]
    return value


def check_results_path(path: str | os.PathLike[str]) -> None:
    """ValueError when ``path`` cannot be a results file here: a directory, or in a directory
    that does not exist (``-``, stdout, always can)."""
    if str(path) == "-":
        return
    target = Path(path)
    if target.is_dir():
        raise ValueError(f"results {path}: is a directory, but a file is needed")
    if not target.parent.is_dir():
        raise ValueError(f"results {path}: directory {target.parent} does not exist")


def encode_results(line: ResultsLine) -> str:
    """The JSON line for ``line`` (no newline); ValueError or TypeError if it cannot be one.

    NaN and infinities are refused too: they are not JSON, and a reader would choke on them.
    """
    document = {
        "stream": line.stream,
        "frame": line.frame,
        "t": round(line.t, 6) if math.isfinite(line.t) else None,
        "results": plain_results(line.results),
    }
    return json.dumps(document, allow_nan=False, separators=(",", ":"))


class _FailureKept:
    """A handler mixin: a failed write is kept in ``failure`` for the writer to count, not
    printed as the stdlib's ``handleError`` does."""

    failure: BaseException | None = None

    def handleError(self, record: logging.LogRecord) -> None:
        self.failure = sys.exc_info()[1]

    def take_failure(self) -> BaseException | None:
        """The failure of the writes since the last call, if any."""
        failure, self.failure = self.failure, None
        return failure


class _FileLines(_FailureKept, logging.handlers.RotatingFileHandler):
    """The stdlib's size rotation, one message per line."""

    def __init__(self, path: Path, max_bytes: int, backup_count: int) -> None:
        # Opened on the first write, on the writer's thread: a FIFO nobody reads blocks the
        # writer there, never the caller that builds it.
        super().__init__(
            path, maxBytes=max_bytes, backupCount=backup_count, encoding="utf-8", delay=True
        )
        self._regular = True

    def _open(self) -> Any:
        stream = super()._open()
        self._regular = stat.S_ISREG(os.fstat(stream.fileno()).st_mode)
        return stream

    def shouldRollover(self, record: logging.LogRecord) -> bool:
        # Only a regular file rotates. A FIFO or a device has no size to measure, and from
        # Python 3.13 on the stdlib asks for its position before it checks, which fails there.
        if self.stream is None:
            self.stream = self._open()
        return self._regular and bool(super().shouldRollover(record))


class _StdoutLines(_FailureKept, logging.StreamHandler):  # type: ignore[type-arg]
    def __init__(self) -> None:
        super().__init__(sys.stdout)


class ResultsWriter(Closing):
    """Writes results lines on a thread of its own; ``submit`` never blocks the caller.

    ``path`` is a file (created with its directory's checks left to the caller), ``"-"`` for
    stdout, or None: no file, the lines only go to ``on_results`` (then ``written`` counts the
    lines handed to it). ``max_bytes`` > 0 rotates the file at that size, keeping
    ``backup_count`` old ones. ``report`` receives one line per kind of problem, the first time
    it happens.
    """

    def __init__(
        self,
        path: str | Path | None,
        *,
        max_bytes: int = 0,
        backup_count: int = 5,
        queue_size: int = QUEUE_SIZE,
        on_results: ResultsCallback | None = None,
        report: Callable[[str], None] | None = None,
    ) -> None:
        if queue_size < 1:
            raise ValueError(f"queue_size must be at least 1, but got {queue_size}")
        if max_bytes < 0 or backup_count < 0:
            raise ValueError(
                f"max_bytes and backup_count must not be negative, "
                f"but got {max_bytes} and {backup_count}"
            )
        if path is None and on_results is None:
            raise ValueError("a results writer needs a path, an on_results callback or both")
        self.path = None if path is None else str(path)
        self._handler: _FileLines | _StdoutLines | None = None
        if path is not None:
            self._handler = (
                _StdoutLines()
                if self.path == "-"
                else _FileLines(Path(path), max_bytes, backup_count)
            )
        self._on_results = on_results
        self._report = report
        self._queue: queue.Queue[ResultsLine | None] = queue.Queue(maxsize=queue_size)
        self._written = 0
        self._dropped = 0  # the submitting thread's count
        self._accepted = 0  # the submitting thread's count
        self._errors = 0
        self._callback_errors = 0
        self._left_behind = 0  # lines dropped after they were queued: a stuck close, a release
        # Per stream: [written, errors, left behind] (under the lock); dropped and accepted
        # (the submitting thread's).
        self._per_stream: dict[str, list[int]] = {}
        self._dropped_of: dict[str, int] = {}
        self._accepted_of: dict[str, int] = {}
        # Lines of a released stream still queued: the writer passes over them, uncounted.
        self._skip_of: dict[str, int] = {}
        self._abandoned = threading.Event()
        # Every count the writer thread keeps, against a close or a release on another thread.
        self._count_lock = threading.Lock()
        self._in_hand: ResultsLine | None = None  # the line the writer thread is writing
        self._reported: set[str] = set()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="framepipe-results", daemon=True)
        self._thread.start()

    def submit(self, stream: str, frame: int, t: float, results: Any) -> bool:
        """Queue one frame's results; False (and counted as dropped) when the queue is full."""
        if not self._closed:
            try:
                self._queue.put_nowait(ResultsLine(stream, frame, t, results))
            except queue.Full:
                pass
            else:
                self._accepted += 1
                self._accepted_of[stream] = self._accepted_of.get(stream, 0) + 1
                return True
        self._dropped += 1
        self._dropped_of[stream] = self._dropped_of.get(stream, 0) + 1
        return False

    def stats(self) -> ResultsStats:
        with self._count_lock:
            handled = self._written + self._errors + self._left_behind
            return ResultsStats(
                written=self._written, dropped=self._dropped + self._left_behind,
                errors=self._errors, callback_errors=self._callback_errors,
                pending=max(0, self._accepted - handled),
            )  # fmt: skip

    def stats_of(self, stream: str) -> ResultsStats:
        """The counts of the lines submitted for ``stream`` since it was last released:
        written + dropped + errors + pending is every one of them (``callback_errors`` is the
        writer's whole count)."""
        with self._count_lock:
            written, errors, left_behind = self._per_stream.get(stream, (0, 0, 0))
            accepted = self._accepted_of.get(stream, 0)
            return ResultsStats(
                written=written, dropped=self._dropped_of.get(stream, 0) + left_behind,
                errors=errors, callback_errors=self._callback_errors,
                pending=max(0, accepted - written - errors - left_behind),
            )  # fmt: skip

    def release(self, stream: str) -> ResultsStats:
        """``stream``'s final counts; the writer then forgets it (a later stream of that name
        is counted from zero).

        Its lines still pending are dropped, counted in these counts, and never written: call
        it once ``stats_of(stream).pending`` is 0 to lose none. Call it from the thread that
        submits, so that no line of the stream comes in the meantime.
        """
        with self._count_lock:
            written, errors, left_behind = self._per_stream.pop(stream, (0, 0, 0))
            accepted = self._accepted_of.pop(stream, 0)
            dropped = self._dropped_of.pop(stream, 0)
            pending = max(0, accepted - written - errors - left_behind)
            queued = pending
            if pending and self._in_hand is not None and self._in_hand.stream == stream:
                self._in_hand = None  # stuck in a write: the writer will not count it
                queued -= 1
            if queued:  # the oldest lines of the stream still in the queue are its own
                self._skip_of[stream] = self._skip_of.get(stream, 0) + queued
            self._left_behind += pending
        return ResultsStats(
            written=written, dropped=dropped + left_behind + pending, errors=errors,
            callback_errors=self._callback_errors,
        )  # fmt: skip

    def close(self, timeout: float = CLOSE_TIMEOUT_S) -> ResultsStats:
        """Write what is queued, stop the thread and close the file; idempotent.

        A writer still stuck after ``timeout`` seconds (a callback that does not return, a
        FIFO nobody reads) is left to end by itself: the lines it had not taken yet count as
        dropped.
        """
        if not self._closed:
            self._closed = True
            deadline = time.monotonic() + timeout
            try:
                while self._thread.is_alive():  # the end marker waits for the lines before it
                    try:
                        self._queue.put(
                            None, timeout=min(0.1, max(0.0, deadline - time.monotonic()))
                        )
                        break
                    except queue.Full:
                        if time.monotonic() >= deadline:
                            break
            finally:
                self._thread.join(max(0.0, deadline - time.monotonic()))
                with self._count_lock:
                    self._abandoned.set()
                    if self._in_hand is not None:  # stuck in a write: it will not count it
                        self._left_behind += 1
                        self._count(self._in_hand.stream, 2)
                        self._in_hand = None
                self._drop_left_behind()
                if not self._thread.is_alive():
                    self._close_handler()
        return self.stats()

    def _close_handler(self) -> None:
        if self._handler is None:
            return
        try:
            self._handler.close()
        except OSError:
            pass  # the flush of lines whose failed writes were already counted

    def _run(self) -> None:
        worked_since = time.perf_counter()
        try:
            while not self._abandoned.is_set():
                try:
                    line = self._queue.get(timeout=0.1)
                except queue.Empty:
                    continue
                if line is None:
                    return
                self._write(line)
                if time.perf_counter() - worked_since > BUDGET_S:
                    time.sleep(PAUSE_S)  # hands the GIL back to the frame loop
                    worked_since = time.perf_counter()
            self._drop_left_behind()
            self._close_handler()
        except BaseException:
            self._drop_left_behind()
            raise

    def _drop_left_behind(self) -> None:
        while True:
            try:
                line = self._queue.get_nowait()
            except queue.Empty:
                return
            if line is not None:
                with self._count_lock:
                    if not self._passed_over(line.stream):
                        self._left_behind += 1
                        self._count(line.stream, 2)

    def _passed_over(self, stream: str) -> bool:
        """True for a line of a released stream, counted already (holding the lock)."""
        skip = self._skip_of.get(stream, 0)
        if not skip:
            return False
        if skip == 1:
            del self._skip_of[stream]
        else:
            self._skip_of[stream] = skip - 1
        return True

    def _count(self, stream: str, which: int) -> None:
        """One more line of ``stream`` written (0), refused (1) or left behind (2); holding
        the lock."""
        counts = self._per_stream.get(stream)
        if counts is None:
            counts = self._per_stream[stream] = [0, 0, 0]
        counts[which] += 1

    def _write(self, line: ResultsLine) -> None:
        with self._count_lock:
            if self._passed_over(line.stream):
                return
            self._in_hand = line  # until counted: a close or release may count it instead
        plain, failure = self._put(line)
        with self._count_lock:
            if self._in_hand is not line:  # close() or release() counted it as dropped
                return
            self._in_hand = None
            if failure is None:
                self._written += 1
                self._count(line.stream, 0)
            else:
                self._errors += 1
                self._count(line.stream, 1)
        if failure is not None:
            self._tell_once(*failure)
        elif self._on_results is not None and plain is not None:
            try:
                self._on_results(plain)
            except Exception as exc:
                self._callback_errors += 1
                self._tell_once("callback", f"on_results raised: {one_line(exc)}")

    def _put(self, line: ResultsLine) -> tuple[ResultsLine | None, tuple[str, str] | None]:
        """Encode and write ``line``: the line made plain, or the kind and words of a failure."""
        try:
            plain = ResultsLine(line.stream, line.frame, line.t, plain_results(line.results))
            text = encode_results(plain)
        except (TypeError, ValueError, RecursionError) as exc:
            where = f"frame {line.frame} of {line.stream}"
            return None, ("encode", f"results of {where} are not JSON: {one_line(exc)}")
        handler = self._handler
        if handler is not None:
            handler.handle(logging.makeLogRecord({"msg": text, "levelno": logging.INFO}))
            failure = handler.take_failure()
            if failure is not None:
                return None, ("write", f"cannot write results to {self.path}: {one_line(failure)}")
        return plain, None

    def _tell_once(self, kind: str, message: str) -> None:
        if kind not in self._reported:
            self._reported.add(kind)
            if self._report is not None:
                try:
                    self._report(message)
                except Exception:
                    pass
