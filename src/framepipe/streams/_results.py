"""Several streams, one results file: the parent's writer, fed by the workers' lines.

A worker's pipeline writes no file: its results writer hands each line to a callback that sends
it to the supervisor (a :class:`~framepipe.streams._messages.Results` message beside the
snapshots), on the writer's thread, so the frame loop never waits on the pipe: when the pipe is
full the worker's bounded queue fills and drops, counted. The supervisor submits each line to
this process's one writer, which drops (counted) when the file is slower than every stream
together.

Counts per stream are exact when every worker ended with its report: ``results_written`` is
what reached the file, ``results_dropped`` what either queue dropped plus what a worker sent and
the parent never received, ``results_errors`` what either side refused. The workers' side comes
from the stream's snapshot or summary, which already count every attempt of the stream. A
worker killed (a hang, SIGKILL, a crash) loses what its queue and the pipe held, at most the
queue's size (``framepipe.pipeline.results.QUEUE_SIZE`` lines) plus a pipe's buffer; its counts
are then what its last snapshot said.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence

from framepipe.pipeline.live import PipelineSnapshot
from framepipe.pipeline.results import RESULTS_BACKUP_COUNT, RESULTS_MAX_BYTES, ResultsWriter
from framepipe.streams._messages import Results
from framepipe.streams.report import StreamResult

__all__ = ["ResultsRelay"]

CLOSE_TIMEOUT_S = 5.0


class ResultsRelay:
    """The parent's results writer; each stream's counts, the file's and its workers'."""

    def __init__(
        self, path: str | os.PathLike[str], report: Callable[[str], None] | None = None
    ) -> None:
        self._writer = ResultsWriter(
            str(path), max_bytes=RESULTS_MAX_BYTES, backup_count=RESULTS_BACKUP_COUNT,
            report=report,
        )  # fmt: skip

    def line(self, stream: str, message: Results) -> None:
        """One line a worker sent (supervisor's thread; never waits)."""
        self._writer.submit(stream, message.frame, message.t, message.results)

    def snapshot(self, stream: str, latest: PipelineSnapshot) -> PipelineSnapshot:
        """``latest`` (the stream's, its counts over every attempt) with the stream's counts
        as the file sees them so far."""
        parent = self._writer.stats_of(stream)
        return dataclasses.replace(
            latest,
            results_written=parent.written,
            results_dropped=parent.dropped + latest.results_dropped,
            results_errors=parent.errors + latest.results_errors,
        )

    def close(self, results: Sequence[StreamResult]) -> tuple[StreamResult, ...]:
        """Write what is queued and close the file; ``results`` with their final counts."""
        self._writer.close(CLOSE_TIMEOUT_S)
        return tuple(self._final(result) for result in results)

    def _final(self, result: StreamResult) -> StreamResult:
        parent = self._writer.stats_of(result.stream)
        workers = result.summary  # what the workers sent, dropped and refused, every attempt
        lost = max(0, workers.results_written - (parent.written + parent.dropped + parent.errors))
        summary = dataclasses.replace(
            workers,
            results_written=parent.written,
            results_dropped=parent.dropped + workers.results_dropped + lost,
            results_errors=parent.errors + workers.results_errors,
        )
        return dataclasses.replace(result, summary=summary)
