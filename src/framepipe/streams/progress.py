"""The live view of several streams: one status line per stream, on stderr.

On a terminal the lines are redrawn in place twice a second, each made to fit the terminal's
width by leaving out its last fields (a wrapped line would throw the redraw off); otherwise, as
in a log file or a pipe, the block is written every few seconds. A terminal that goes away ends
the view, never the run.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TextIO

from framepipe._text import plural
from framepipe.pipeline.live import PipelineSnapshot
from framepipe.pipeline.progress import fit, terminal_columns

__all__ = ["StreamsProgress", "status_line"]

TERMINAL_REFRESH_S = 0.5
PLAIN_REFRESH_S = 5.0


def status_line(
    name: str, snapshot: PipelineSnapshot, name_width: int = 0, columns: int | None = None
) -> str:
    """One stream's state, frames, rate, p99 frame time, misses and drops; with ``columns``,
    the last of them left out until the line fits."""
    parts = [
        f"{name:<{name_width}}",
        f"{snapshot.state:<8}",
        f"{plural(snapshot.frames_processed, 'frame', width=7):<14}",
        f"{snapshot.fps:6.1f} FPS",
        f"p99 {snapshot.frame_ms.get('p99', 0.0):7.2f} ms",
        f"misses {snapshot.budget_misses}",
        f"dropped {snapshot.frames_dropped}",
    ]
    return "  ".join(parts) if columns is None else fit(parts, columns)


class StreamsProgress:
    """Call ``update(snapshots)`` as often as you like; ``close()`` at the end."""

    def __init__(
        self,
        names: Sequence[str],
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.names = list(names)
        self.stream = stream if stream is not None else sys.stderr
        self.clock = clock
        self._width = max((len(name) for name in self.names), default=0)
        self._terminal = _isatty(self.stream)
        self._interval_s = TERMINAL_REFRESH_S if self._terminal else PLAIN_REFRESH_S
        self._last = float("-inf")
        self._drawn = 0  # lines on screen to redraw over
        self._broken = False

    def update(self, snapshots: Mapping[str, PipelineSnapshot], force: bool = False) -> None:
        now = self.clock()
        if self._broken or (not force and now - self._last < self._interval_s):
            return
        self._last = now
        columns = terminal_columns(self.stream) if self._terminal else None
        lines = [
            status_line(name, snapshots[name], self._width, columns)
            for name in self.names
            if name in snapshots
        ]
        if self._terminal:
            up = f"\x1b[{self._drawn}F" if self._drawn else ""
            text = up + "".join(f"{line}\x1b[K\n" for line in lines)
            self._drawn = len(lines)
        else:
            text = "".join(f"{line}\n" for line in lines)
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # the terminal is gone (SIGHUP), or the stream closed
            self._broken = True

    def close(self, snapshots: Mapping[str, PipelineSnapshot] | None = None) -> None:
        """Draw the final state (on a terminal) and stop; idempotent."""
        if snapshots is not None and self._terminal:
            self.update(snapshots, force=True)
        self._broken = True


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (OSError, ValueError):
        return False
