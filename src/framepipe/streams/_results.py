"""Several streams' results files: the parent's writers, fed by the workers' lines.

A worker's pipeline writes no file: its results writer hands each line to a callback that sends
it to the supervisor (a :class:`~framepipe.streams._messages.Results` message beside the
snapshots), on the writer's thread, so the frame loop never waits on the pipe: when the pipe is
full the worker's bounded queue fills and drops, counted. The supervisor submits each line to
the writer of the file the stream's own config names, which drops (counted) when the file is
slower than every stream writing to it together.

One writer per distinct file (paths that resolve to one file share it, ``-`` is stdout): opened
when the first stream naming it joins, closed when the last one has left or at the end. A set
keeps at most :data:`MAX_RESULTS_FILES` open; a stream that would open one more, or whose file
cannot be opened, is refused as it joins (:class:`ResultsRefused`).

Counts per stream are exact when every worker ended with its report: ``results_written`` is
what reached the file, ``results_dropped`` what either queue dropped plus what a worker sent and
the parent never received, ``results_errors`` what either side refused. The workers' side comes
from the stream's snapshot or summary, which already count every attempt of the stream. A
worker killed (a hang, SIGKILL, a crash) loses what its queue and the pipe held, at most the
queue's size (``framepipe.pipeline.results.QUEUE_SIZE`` lines) plus a pipe's buffer; its counts
are then what its last snapshot said. A stream that leaves waits (:meth:`ResultsRelay.settled`)
until its file has taken its last line; one whose file is stuck for :data:`SETTLE_TIMEOUT_S`
leaves anyway, its lines still queued dropped and counted, never written after its counts.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from framepipe.pipeline.live import PipelineSnapshot
from framepipe.pipeline.results import (
    RESULTS_BACKUP_COUNT,
    RESULTS_MAX_BYTES,
    ResultsStats,
    ResultsWriter,
    check_results_path,
)
from framepipe.streams._messages import Results
from framepipe.streams.report import StreamResult
from framepipe.streams.stream_set import StreamSetError

__all__ = [
    "MAX_RESULTS_FILES",
    "SETTLE_TIMEOUT_S",
    "ResultsRefused",
    "ResultsRelay",
    "open_results_path",
]

CLOSE_TIMEOUT_S = 5.0
SETTLE_TIMEOUT_S = 5.0  # how long a leaving stream waits for its file to take its last lines
# Each file is a thread, a descriptor and a queue of up to 1024 lines: a set keeps this many.
MAX_RESULTS_FILES = 64


class ResultsRefused(StreamSetError, ValueError):
    """A stream's results file that cannot be opened, or one more than a set keeps open."""


def open_results_path(path: str | os.PathLike[str]) -> None:
    """ResultsRefused when ``path`` cannot be a results file here: a directory, a directory
    that does not exist or cannot be written, a file that cannot be opened to append.

    Nothing is created (the file comes with its first line), and a FIFO nobody reads yet is
    taken (its reader may come): it is opened without waiting.
    """
    try:
        check_results_path(path)
    except ValueError as exc:
        raise ResultsRefused(str(exc)) from None
    text = os.fspath(path)
    if text == "-":
        return
    if not os.path.exists(text):
        parent = os.path.dirname(os.path.abspath(text))
        if not os.access(parent, os.W_OK | os.X_OK):
            raise ResultsRefused(f"results {text}: directory {parent} cannot be written")
        return
    try:
        os.close(os.open(text, os.O_WRONLY | os.O_APPEND | getattr(os, "O_NONBLOCK", 0)))
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # a FIFO without a reader, so far
            return
        raise ResultsRefused(f"results {text}: cannot be opened: {exc.strerror}") from None


def _file_key(path: str | os.PathLike[str]) -> str:
    """One key per file: a relative path, ``./`` or a symlink names the same file as its
    resolved path does."""
    text = os.fspath(path)
    return text if text == "-" else os.path.realpath(text)


@dataclass
class _File:
    """One results file and the streams writing to it now."""

    key: str
    writer: ResultsWriter
    streams: set[str] = field(default_factory=set)


class ResultsRelay:
    """The parent's results writers, one per file; each stream's counts, its file's and its
    workers'. Used from the supervisor's thread; ``snapshot`` from any."""

    def __init__(
        self,
        report: Callable[[str], None] | None = None,
        *,
        max_files: int = MAX_RESULTS_FILES,
    ) -> None:
        self._report = report
        self._max_files = max_files
        self._files: dict[str, _File] = {}  # by file key
        self._of: dict[str, _File] = {}  # by stream: replaced item by item, read from any thread

    @property
    def paths(self) -> tuple[str, ...]:
        """The files open now, by the path their first stream gave."""
        return tuple(str(file.writer.path) for file in self._files.values())

    def joined(self, stream: str) -> bool:
        return stream in self._of

    def join(self, stream: str, path: str | os.PathLike[str]) -> None:
        """``stream``'s lines go to ``path`` from now on: its file's writer, opened now when no
        stream writes there yet. ResultsRefused when the file cannot be opened, or when it
        would be one more than :data:`MAX_RESULTS_FILES`. A stream of that name that joined
        before (and never started) writes there no more."""
        if stream in self._of:
            self._part(stream)
        key = _file_key(path)
        file = self._files.get(key)
        if file is None:
            open_results_path(path)
            if len(self._files) >= self._max_files:
                raise ResultsRefused(
                    f"results {os.fspath(path)}: the set writes {self._max_files} results files "
                    "already, the most it keeps open (name a file another stream writes, or "
                    "remove a stream first)"
                )
            writer = ResultsWriter(
                os.fspath(path), max_bytes=RESULTS_MAX_BYTES, backup_count=RESULTS_BACKUP_COUNT,
                report=self._report,
            )  # fmt: skip
            file = self._files[key] = _File(key, writer)
        file.streams.add(stream)
        self._of[stream] = file

    def line(self, stream: str, message: Results) -> None:
        """One line a worker sent (supervisor's thread; never waits). A stream that joined no
        file sends none; were one to come, it counts as sent and never received."""
        file = self._of.get(stream)
        if file is not None:
            file.writer.submit(stream, message.frame, message.t, message.results)

    def settled(self, stream: str) -> bool:
        """Every line of ``stream`` submitted so far was written, refused or dropped."""
        file = self._of.get(stream)
        return file is None or file.writer.stats_of(stream).pending == 0

    def snapshot(self, stream: str, latest: PipelineSnapshot) -> PipelineSnapshot:
        """``latest`` (the stream's, its counts over every attempt) with the stream's counts
        as its file sees them so far."""
        file = self._of.get(stream)
        if file is None:
            return latest
        return _counted(latest, file.writer.stats_of(stream))

    def leave(self, result: StreamResult) -> StreamResult:
        """The stream of ``result`` (ended) writes no more: ``result`` with its final counts.
        Its lines still queued, when it has not :meth:`settled`, are dropped and counted. Its
        file is closed when no other stream writes to it."""
        return _final(result, self._part(result.stream))

    def _part(self, stream: str) -> ResultsStats:
        """``stream`` leaves its file: its final counts there; the file closed when it was the
        last to write to it."""
        file = self._of.pop(stream, None)
        if file is None:
            return ResultsStats(0, 0, 0)
        settled = file.writer.stats_of(stream).pending == 0
        final = file.writer.release(stream)
        file.streams.discard(stream)
        if not file.streams:
            del self._files[file.key]
            file.writer.close(CLOSE_TIMEOUT_S if settled else 0.0)
        return final

    def close(self, results: Sequence[StreamResult]) -> tuple[StreamResult, ...]:
        """Write what is queued and close every file; ``results`` with their final counts."""
        _close_all([file.writer for file in self._files.values()], CLOSE_TIMEOUT_S)
        self._files.clear()  # the streams keep their writers' counts
        final = []
        for result in results:
            file = self._of.get(result.stream)
            stats = file.writer.stats_of(result.stream) if file is not None else None
            final.append(_final(result, stats or ResultsStats(0, 0, 0)))
        return tuple(final)


def _close_all(writers: list[ResultsWriter], timeout: float) -> None:
    """Close ``writers`` side by side: a stuck file costs the others none of their time."""
    if len(writers) <= 1:
        for writer in writers:
            writer.close(timeout)
        return
    closers = [
        threading.Thread(
            target=writer.close, args=(timeout,), name="framepipe-results-close", daemon=True
        )
        for writer in writers
    ]
    for closer in closers:
        closer.start()
    for closer in closers:
        closer.join(timeout + 1.0)  # close() gives up after its timeout by itself


def _counted(latest: PipelineSnapshot, parent: ResultsStats) -> PipelineSnapshot:
    return dataclasses.replace(
        latest,
        results_written=parent.written,
        results_dropped=parent.dropped + latest.results_dropped,
        results_errors=parent.errors + latest.results_errors,
    )


def _final(result: StreamResult, parent: ResultsStats) -> StreamResult:
    """``result`` with the counts of its file (``parent``) and of its workers (its summary,
    every attempt): what a worker sent that the file never saw is dropped."""
    workers = result.summary
    lost = max(0, workers.results_written - (parent.written + parent.dropped + parent.errors))
    summary = dataclasses.replace(
        workers,
        results_written=parent.written,
        results_dropped=parent.dropped + workers.results_dropped + lost,
        results_errors=parent.errors + workers.results_errors,
    )
    return dataclasses.replace(result, summary=summary)
