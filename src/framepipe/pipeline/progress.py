"""Per-frame progress: the :class:`Progress` value a ``Pipeline`` hands its ``progress``
callback, and the view of it for ``framepipe run`` on stderr.

On a terminal: a tqdm bar for sources with a known length, a one-line status for live sources,
redrawn a few times a second and never wider than the terminal. Anywhere else (a file, a pipe,
``docker logs``, journald) a redraw would land in the log as is, so the view is one plain line
every :data:`PLAIN_REFRESH_S` seconds instead.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from framepipe._text import plural

__all__ = ["PLAIN_REFRESH_S", "Progress", "ProgressReporter", "fit", "terminal_columns"]

_REFRESH_S = 0.5
PLAIN_REFRESH_S = 5.0


@dataclass(frozen=True)
class Progress:
    """Passed to the ``progress`` callback after each processed frame, on the frame loop."""

    frames_processed: int
    frames_read: int
    frames_dropped: int
    frame_ms: float
    budget_misses: int
    elapsed_s: float
    total: int | None  # frames expected in all (file length or max_frames), None for live


class ProgressReporter:
    """A ``progress`` callback for :class:`~framepipe.pipeline.Pipeline`; call ``close()`` at the
    end. The bar or status line is chosen on the first update, once the length is known."""

    def __init__(
        self, stream: TextIO | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.clock = clock
        self._terminal = _isatty(self.stream)
        self._unwritten: Progress | None = None  # not a terminal: the latest, not yet written
        self._broken = False  # a write failed: nothing more is written
        self._bar: Any = None
        self._live = False
        self._last_refresh = float("-inf")
        self._last_line_len = 0

    def __call__(self, progress: Progress) -> None:
        if self._broken:
            return
        if not self._terminal:
            self._write_plain(progress)
            return
        if self._bar is None and not self._live:
            if progress.total is not None:
                from tqdm import tqdm

                self._bar = tqdm(
                    total=progress.total,
                    unit="frame",
                    file=self.stream,
                    dynamic_ncols=True,
                    mininterval=_REFRESH_S,
                )
            else:
                self._live = True
        now = self.clock()
        refresh = now - self._last_refresh >= _REFRESH_S
        if self._bar is not None:
            self._bar.update(progress.frames_processed - self._bar.n)
            if refresh:
                self._bar.set_postfix_str(_postfix(progress), refresh=False)
        elif refresh:
            self._write_status(progress)
        if refresh:
            self._last_refresh = now

    def _write_plain(self, progress: Progress) -> None:
        """One line every few seconds, for a log: no carriage return, no bar."""
        now = self.clock()
        if now - self._last_refresh < PLAIN_REFRESH_S:
            self._unwritten = progress
            return
        self._last_refresh = now
        self._unwritten = None
        self._write_line(progress)

    def _write_line(self, progress: Progress) -> None:
        done = plural(progress.frames_processed, "frame")
        if progress.total is not None:
            done = f"{progress.frames_processed}/{plural(progress.total, 'frame')}"
        try:
            self.stream.write(f"{done}  {_fps(progress):.1f} FPS  {_postfix(progress)}\n")
            self.stream.flush()
        except (OSError, ValueError):  # the log or pipe is gone: the run goes on, unreported
            self._broken = True

    def _write_status(self, progress: Progress) -> None:
        parts = [
            plural(progress.frames_processed, "frame"),
            f"{_fps(progress):.1f} FPS",
            f"{progress.frame_ms:.1f} ms/frame",
            f"misses {progress.budget_misses}",
            f"dropped {progress.frames_dropped}",
        ]
        line = fit(parts, terminal_columns(self.stream))
        padding = " " * max(0, self._last_line_len - len(line))
        self.stream.write(f"\r{line}{padding}")
        self.stream.flush()
        self._last_line_len = len(line)

    def close(self) -> None:
        """Finish the bar or end the status line (not on a terminal: write the last count if
        it is not written yet); idempotent."""
        if self._unwritten is not None and not self._broken:
            progress, self._unwritten = self._unwritten, None
            self._write_line(progress)
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        if self._live:
            self.stream.write("\n")
            self.stream.flush()
            self._live = False


def fit(parts: list[str], columns: int) -> str:
    """``parts`` joined by two spaces, the last ones left out until the line fits ``columns``
    (a line cut in the middle of a word says nothing)."""
    for count in range(len(parts), 0, -1):
        line = "  ".join(parts[:count])
        if len(line) <= columns:
            return line
    return parts[0][:columns]


def terminal_columns(stream: TextIO) -> int:
    """Columns usable on the terminal ``stream`` writes to (one less than its width, so the
    cursor never wraps); 80 when it does not say."""
    try:
        columns = os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):
        columns = 80
    return max(20, columns - 1)


def _isatty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, OSError, ValueError):
        return False


def _fps(progress: Progress) -> float:
    return progress.frames_processed / progress.elapsed_s if progress.elapsed_s > 0 else 0.0


def _postfix(progress: Progress) -> str:
    return (
        f"{progress.frame_ms:.1f} ms/frame  misses {progress.budget_misses}  "
        f"dropped {progress.frames_dropped}"
    )
