"""What a stream keeps of its earlier attempts, in memory that does not grow with their number.

A stream restarted every minute for a week has 10,080 attempts. :class:`AttemptLog` counts every
one and keeps the last :data:`KEPT_ATTEMPTS` of them for the summary; the counters of all of them
are summed elsewhere (a restarted stream's counts go on), and their frame times and ages are
merged into one :class:`~framepipe.pipeline.stats.FrameSummary` by :func:`timings_so_far`, so
the stream's percentiles cover every attempt from a sketch of constant size.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

from framepipe.pipeline.live import PipelineSnapshot
from framepipe.pipeline.stats import FrameSummary, with_timings_of
from framepipe.streams._messages import Finished
from framepipe.streams.report import Attempt

__all__ = ["KEPT_ATTEMPTS", "AttemptLog", "timings_so_far"]

KEPT_ATTEMPTS = 100  # the failed attempts a summary lists, the latest ones


class AttemptLog:
    """A stream's failed attempts: ``len()`` counts all of them, iterating gives the last
    ``kept`` (oldest first)."""

    def __init__(self, kept: int = KEPT_ATTEMPTS) -> None:
        if isinstance(kept, bool) or not isinstance(kept, int) or kept < 1:
            raise ValueError(f"kept must be a positive integer, but got {kept!r}")
        self._last: deque[Attempt] = deque(maxlen=kept)
        self._count = 0

    def append(self, attempt: Attempt) -> None:
        self._last.append(attempt)
        self._count += 1

    def pop(self) -> Attempt:
        """Take back the latest attempt (IndexError when there is none)."""
        attempt = self._last.pop()
        self._count -= 1
        return attempt

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[Attempt]:
        return iter(tuple(self._last))

    def __getitem__(self, index: int) -> Attempt:
        return self._last[index]


def timings_so_far(
    earlier: FrameSummary | None, finished: Finished | None, snapshot: PipelineSnapshot | None
) -> FrameSummary | None:
    """The frame times and ages of ``earlier`` attempts and of the one that just ended (its
    report when it sent one, else its last snapshot), merged; ``earlier`` when it told none."""
    if finished is not None and finished.summary is not None:
        ended = finished.summary.frame_stats
    elif snapshot is not None:
        ended = FrameSummary.from_snapshot(snapshot)
    else:
        return earlier
    return with_timings_of(ended, earlier)
