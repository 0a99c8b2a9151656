"""Tests for framepipe.streams.progress: one status line per stream."""

from __future__ import annotations

import dataclasses
import fcntl
import io
import os
import struct
import termios

from framepipe.pipeline.live import PipelineSnapshot
from framepipe.pipeline.status import RunStatus
from framepipe.streams.progress import StreamsProgress, status_line
from helpers import ManualClock


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Closed(io.StringIO):
    def write(self, text: str) -> int:
        raise OSError(5, "Input/output error")


def snapshot(frames: int = 0) -> PipelineSnapshot:
    import dataclasses

    base = RunStatus("scene", 33.3).snapshot(0.0)
    return dataclasses.replace(base, state="running", frames_processed=frames, fps=29.5)


def test_a_line_shows_state_frames_rate_and_the_budget_figures() -> None:
    """Name padded to the widest, then state, frames, FPS, p99, misses and drops."""
    line = status_line("door", snapshot(42), name_width=6)
    assert line.startswith("door    running        42 frames    29.5 FPS  p99    0.00 ms")
    assert line.endswith("misses 0  dropped 0")


def test_one_frame_is_singular_and_the_columns_stay_aligned() -> None:
    """One frame is "1 frame", padded to the width of "frames", so the FPS column stays."""
    one = status_line("door", snapshot(1), name_width=6)
    two = status_line("door", snapshot(2), name_width=6)
    assert "      1 frame   " in one and "1 frames" not in one
    assert one.index("FPS") == two.index("FPS")


def test_a_terminal_gets_its_lines_redrawn_in_place() -> None:
    """The second update moves the cursor up over the first block, one line per stream."""
    out, clock = Terminal(), ManualClock()
    progress = StreamsProgress(["a", "bb"], out, clock)
    progress.update({"a": snapshot(1), "bb": snapshot(2)})
    clock.now += 1.0
    progress.update({"a": snapshot(3), "bb": snapshot(4)})
    first, second = out.getvalue().split("\x1b[2F")
    assert first.count("\n") == 2 and second.count("\n") == 2
    assert "      3 frames" in second and "      4 frames" in second


def test_without_a_terminal_a_block_is_written_every_few_seconds() -> None:
    """In a pipe or a file, no cursor movement, and not at every update."""
    out, clock = io.StringIO(), ManualClock()
    progress = StreamsProgress(["a"], out, clock)
    for _ in range(11):  # 0 s to 5 s
        progress.update({"a": snapshot(1)})
        clock.now += 0.5
    assert out.getvalue().count("\n") == 2  # at 0 s and at 5 s
    assert "\x1b" not in out.getvalue()


def test_a_terminal_that_is_gone_ends_the_view_quietly() -> None:
    """A write error (SIGHUP closed the terminal) stops the updates; nothing is raised."""
    progress = StreamsProgress(["a"], Closed(), ManualClock())
    progress.update({"a": snapshot(1)})
    progress.update({"a": snapshot(2)}, force=True)


def test_on_an_80_column_terminal_each_line_fits_leaving_whole_fields_out() -> None:
    """A real pty of 80 columns: no line over 79 columns, none cut inside a field."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    busy = dataclasses.replace(
        RunStatus("synthetic", 33.3).snapshot(0.0),
        state="running", frames_processed=1234567, budget_misses=7654321, frames_dropped=99999,
    )  # fmt: skip
    try:
        with os.fdopen(slave, "w", closefd=False) as stream:
            view = StreamsProgress(["a-rather-long-camera-name", "b"], stream=stream)
            view.update({"a-rather-long-camera-name": busy, "b": busy})
            view.close()
        text = os.read(master, 65536).decode()
    finally:
        os.close(master)
        os.close(slave)
    lines = [line.replace("\x1b[K", "") for line in text.replace("\r\n", "\n").split("\n") if line]
    assert len(lines) == 2
    for line in lines:
        assert len(line) <= 79, line
        assert not line.rstrip().endswith(("dr", "misses", "dropped")), line
