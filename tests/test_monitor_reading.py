"""Reading and its framing: what crosses the pipe to the server process."""

from __future__ import annotations

import dataclasses
import io
import struct
import subprocess
import sys

import pytest

from framepipe.monitor.reading import (
    MAX_MESSAGE,
    HostConfig,
    Reading,
    StreamReading,
    read_message,
    write_message,
)
from framepipe.pipeline.live import PipelineSnapshot

SNAPSHOT = PipelineSnapshot(
    state="running", source="cam", budget_ms=33.3, frames_read=3, frames_processed=3,
    frames_dropped=0, frames_failed=0, budget_misses=1, reconnects=0, elapsed_s=0.1, fps=29.9,
    frame_ms={"p50": 1.0, "p99": 2.0, "max": 3.0}, frame_age_ms={"p50": 4.0, "p99": 5.0},
    last_frame_at=12.0, latest_frame=None,
)  # fmt: skip
STREAM = StreamReading(SNAPSHOT, frame_histogram=((0.01, 0.02), (1, 2, 3), 0.05))


class TestFraming:
    def test_messages_come_back_in_order_and_then_none(self) -> None:
        """Several messages on one stream read back equal, then None at the end of the pipe."""
        pipe = io.BytesIO()
        messages = [
            HostConfig("127.0.0.1", 0, None, 42, ("main",)),
            Reading(1.0, {"main": STREAM}, {"queue_size": 1}, b"\xff\xd8", None),
        ]
        for message in messages:
            write_message(pipe, message)
        pipe.seek(0)
        assert [read_message(pipe), read_message(pipe), read_message(pipe)] == [*messages, None]

    def test_a_message_cut_short_reads_as_the_end(self) -> None:
        """A writer that died mid-message is the end of the stream, not an exception."""
        pipe = io.BytesIO()
        write_message(pipe, Reading(1.0))
        cut = io.BytesIO(pipe.getvalue()[:-3])
        assert read_message(cut) is None

    def test_a_length_over_the_limit_is_refused(self) -> None:
        """A corrupt length prefix is not an allocation of gigabytes."""
        pipe = io.BytesIO(struct.pack("!I", MAX_MESSAGE + 1))
        with pytest.raises(ValueError, match="over the"):
            read_message(pipe)


def test_seconds_since_last_frame_is_none_before_the_first_frame() -> None:
    """The age of the last frame on the watched clock; None before any frame, never negative."""
    assert SNAPSHOT.seconds_since_last_frame(15.0) == 3.0
    assert SNAPSHOT.seconds_since_last_frame(11.0) == 0.0
    fresh = dataclasses.replace(SNAPSHOT, last_frame_at=None)
    assert fresh.seconds_since_last_frame(1.0) is None


def test_a_reading_unpickles_without_numpy_opencv_or_the_pipeline() -> None:
    """The server's process reads a reading, its streams' snapshots included, without
    importing anything heavy (the snapshot's class is in a leaf module)."""
    pipe = io.BytesIO()
    write_message(pipe, Reading(1.0, {"main": STREAM}))
    code = (
        "import sys; from framepipe.monitor.reading import read_message; "
        "reading = read_message(sys.stdin.buffer); stream = reading.streams['main']; "
        "heavy = [m for m in ('numpy', 'cv2', 'framepipe.pipeline') if m in sys.modules]; "
        "print(stream.snapshot.frames_processed, stream.snapshot.latest_frame, heavy)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], input=pipe.getvalue(), capture_output=True, timeout=60,
        check=True,
    )  # fmt: skip
    assert done.stdout.decode().split() == ["3", "None", "[]"]
