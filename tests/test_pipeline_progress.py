"""Tests for framepipe.pipeline.progress: the bar for files and the live status line."""

from __future__ import annotations

import io

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


class TestProgressReporter:
    def test_a_known_length_gets_a_bar_with_the_count(self):
        """With a total the reporter draws a tqdm bar ending at n/total."""
        stream = io.StringIO()
        reporter = ProgressReporter(stream)
        for n in range(1, 11):
            reporter(snapshot(n, total=10))
        reporter.close()
        text = stream.getvalue()
        assert "10/10" in text
        assert "frame/s" in text

    def test_a_live_source_gets_a_status_line_at_most_twice_a_second(self):
        """Without a total: one carriage-return status line per 0.5 s of clock, then a newline."""
        stream = io.StringIO()
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
        stream = io.StringIO()
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
