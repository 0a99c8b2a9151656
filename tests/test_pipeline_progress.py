"""Tests for framepipe.pipeline.progress: the bar for files and the live status line."""

from __future__ import annotations

import fcntl
import io
import os
import struct
import termios
from pathlib import Path

from framepipe.pipeline.progress import Progress, ProgressReporter
from helpers import ManualClock


def snapshot(processed: int, total: int | None, elapsed: float = 1.0) -> Progress:
    return Progress(
        frames_processed=processed,
        frames_read=processed,
        frames_dropped=2,
        frame_ms=4.25,
        budget_misses=1,
        elapsed_s=elapsed,
        total=total,
    )


class Terminal(io.StringIO):
    """What a terminal looks like to the reporter (it asks ``isatty()``)."""

    def isatty(self) -> bool:
        return True


class TestProgressReporter:
    def test_a_known_length_gets_a_bar_with_the_count(self):
        """With a total the reporter draws a tqdm bar ending at n/total."""
        stream = Terminal()
        reporter = ProgressReporter(stream)
        for n in range(1, 11):
            reporter(snapshot(n, total=10))
        reporter.close()
        text = stream.getvalue()
        assert "10/10" in text
        assert "frame/s" in text

    def test_a_live_source_gets_a_status_line_at_most_twice_a_second(self):
        """Without a total: one carriage-return status line per 0.5 s of clock, then a newline."""
        stream = Terminal()
        clock = ManualClock()
        reporter = ProgressReporter(stream, clock=clock)
        for n in range(1, 31):
            clock.now = n * 0.1  # 30 frames over 3 s
            reporter(snapshot(n, total=None, elapsed=clock.now))
        reporter.close()
        text = stream.getvalue()
        assert text.count("\r") == 6
        assert text.endswith("\n")
        assert "4.2 ms/frame  misses 1  dropped 2" in text
        assert "26 frames  10.0 FPS" in text

    def test_the_status_line_of_one_frame_says_frame(self):
        """The first frame of a live source: "1 frame", not "1 frames"."""
        stream = Terminal()
        reporter = ProgressReporter(stream, clock=ManualClock(start=1.0))
        reporter(snapshot(1, total=None, elapsed=0.5))
        reporter.close()
        assert stream.getvalue().startswith("\r1 frame  2.0 FPS  ")

    def test_close_without_updates_writes_nothing(self):
        """A run that failed before its first frame leaves the terminal untouched."""
        stream = io.StringIO()
        reporter = ProgressReporter(stream)
        reporter.close()
        reporter.close()
        assert stream.getvalue() == ""


class TestNotATerminal:
    def test_a_file_gets_one_plain_line_every_5_s(self, tmp_path: Path) -> None:
        """No carriage return and no bar in a log: a line at the first frame, one per 5 s, and
        the last count when the run ends."""
        clock = ManualClock(start=0.0)
        with (tmp_path / "stderr.txt").open("w") as stream:
            reporter = ProgressReporter(stream, clock=clock)
            for frame in range(1, 301):
                reporter(snapshot(frame, total=300, elapsed=frame / 30))
                clock.advance(1 / 30)
            reporter.close()
        text = (tmp_path / "stderr.txt").read_text()
        assert "\r" not in text and "\x1b" not in text
        lines = text.splitlines()
        assert len(lines) == 3  # at 0 s and at 5 s of a 10 s run, and at its end
        assert lines[0].startswith("1/300 frames  ")
        assert lines[1].split("/")[0] in {"151", "152"}  # 5 s of 1/30 s steps, in floats
        assert lines[2].startswith("300/300 frames  ")


class TestOnA80ColumnTerminal:
    def test_the_live_status_line_fits_without_a_cut_word(self) -> None:
        """Every line drawn fits in 79 columns; what does not fit is left out whole."""
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        try:
            with os.fdopen(slave, "w", closefd=False) as stream:
                assert stream.isatty()
                reporter = ProgressReporter(stream, clock=ManualClock(start=1.0, step=1.0))
                long_run = Progress(123456789, 123456789, 987654321, 12345.5, 123456789, 10.0, None)
                reporter(long_run)
                reporter.close()
            text = os.read(master, 65536).decode()
        finally:
            os.close(master)
            os.close(slave)
        (line,) = [part for part in text.replace("\r\n", "\n").split("\r") if part.strip()]
        line = line.rstrip("\n").rstrip()
        assert 0 < len(line) <= 79, line
        assert line.startswith("123456789 frames")
        assert not line.endswith(("misses", "dr", "dropped"))
        assert "dropped 987654321" not in line  # left out, not cut


class TestALogThatIsGone:
    def test_a_log_that_is_gone_ends_the_reporting_not_the_run(self) -> None:
        """A write that fails (a closed pipe) is the last one tried; no error reaches the loop."""

        class Gone(io.StringIO):
            writes = 0

            def write(self, text: str) -> int:
                Gone.writes += 1
                raise OSError(32, "Broken pipe")

        reporter = ProgressReporter(Gone(), clock=ManualClock(start=0.0, step=10.0))
        for frame in range(1, 5):
            reporter(snapshot(frame, total=None))
        reporter.close()
        assert Gone.writes == 1
