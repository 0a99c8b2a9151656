"""The log channel forgets the senders that left: a service whose workers come and go for weeks
holds a receiver per sender connected now, not per sender ever."""

from __future__ import annotations

import threading
import tracemalloc
from pathlib import Path

from framepipe.logging import address, configure
from framepipe.logging._channel import open_channel

SENDERS = 600


def receivers() -> int:
    return sum(t.name == "framepipe-log-receiver" for t in threading.enumerate())


def test_senders_that_left_leave_nothing_behind(tmp_path: Path) -> None:
    """600 senders connect, say goodbye and go, one after another: from the 100th on, the
    channel's memory and threads do not grow and it counts no one connected."""
    log = configure(log_dir=str(tmp_path))
    readings: list[int] = []
    try:
        channel = address()
        for i in range(SENDERS):
            if i == 100:
                tracemalloc.start()
            elif i % 100 == 0 and i:
                readings.append(tracemalloc.get_traced_memory()[0])
            conn, _settings = open_channel(channel, f"worker-{i}")
            try:
                conn.send(("bye",))
                assert conn.recv()[0] == "bye"
            finally:
                conn.close()
        readings.append(tracemalloc.get_traced_memory()[0])
        tracemalloc.stop()
        stats = log.get_stats()
    finally:
        tracemalloc.stop()
        log.stop()
    first, *later = readings
    assert max(later) - first < 32 * 1024, readings
    assert receivers() == 0
    assert stats["channel"]["connected"] in (0, 1)  # the last one may still be saying goodbye
