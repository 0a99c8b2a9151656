"""Reading and its framing: what crosses the pipe to the server process."""

from __future__ import annotations

import dataclasses
import io
import struct

import pytest

from framepipe.monitor.reading import (
    MAX_MESSAGE,
    HostConfig,
    Reading,
    StreamState,
    read_message,
    write_message,
)

STREAM = StreamState(
    state="running", source="cam", budget_ms=33.3, frames_read=3, frames_processed=3,
    frames_dropped=0, budget_misses=1, reconnects=0, fps=29.9,
    frame_ms={"p50": 1.0, "p99": 2.0, "max": 3.0}, frame_age_ms={"p50": 4.0, "p99": 5.0},
    last_frame_at=12.0, frame_histogram=((0.01, 0.02), (1, 2, 3), 0.05),
)


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
    assert STREAM.seconds_since_last_frame(15.0) == 3.0
    assert STREAM.seconds_since_last_frame(11.0) == 0.0
    fresh = dataclasses.replace(STREAM, last_frame_at=None)
    assert fresh.seconds_since_last_frame(1.0) is None
