"""Per-frame progress: the :class:`Progress` value a ``Pipeline`` hands its ``progress``
callback, and the terminal view of it for ``framepipe run`` (a tqdm bar for sources with a known
length, a one-line status for live sources, both on stderr, refreshed a few times a second)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from framepipe._text import plural

__all__ = ["Progress", "ProgressReporter"]

_REFRESH_S = 0.5


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
        self._bar: Any = None
        self._live = False
        self._last_refresh = float("-inf")
        self._last_line_len = 0

    def __call__(self, progress: Progress) -> None:
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

    def _write_status(self, progress: Progress) -> None:
        fps = progress.frames_processed / progress.elapsed_s if progress.elapsed_s > 0 else 0.0
        line = f"{plural(progress.frames_processed, 'frame')}  {fps:.1f} FPS  {_postfix(progress)}"
        padding = " " * max(0, self._last_line_len - len(line))
        self.stream.write(f"\r{line}{padding}")
        self.stream.flush()
        self._last_line_len = len(line)

    def close(self) -> None:
        """Finish the bar or end the status line; idempotent."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        if self._live:
            self.stream.write("\n")
            self.stream.flush()
            self._live = False


def _postfix(progress: Progress) -> str:
    return (
        f"{progress.frame_ms:.1f} ms/frame  misses {progress.budget_misses}  "
        f"dropped {progress.frames_dropped}"
    )
