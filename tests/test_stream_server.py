"""tests/streams.py: the ffmpeg-served stream takes its next client when one leaves early, and
stays down once killed."""

from __future__ import annotations

import os
import signal
import socket
import struct

import pytest

from framepipe.pipeline.sources import SourceError, open_source
from helpers import process_ended, wait_until
from streams import StreamServer, _serving


def _leave_at_once(port: int) -> None:
    """Connect and reset the connection at once, as a client whose open timed out does."""
    client = socket.create_connection(("127.0.0.1", port), timeout=10)
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST
    client.close()


def _frames(url: str, count: int) -> int:
    source = open_source(url, open_timeout_s=10.0, read_timeout_s=5.0)
    try:
        return sum(1 for _ in range(count) if source.read() is not None)
    finally:
        source.release()


def test_a_client_that_leaves_early_is_followed_by_the_next() -> None:
    with StreamServer() as server:
        first = server.pid
        assert first is not None
        _leave_at_once(server.port)
        wait_until(lambda: process_ended(first), "the first ffmpeg to end")
        wait_until(
            lambda: (pid := server.pid) not in (None, first) and _serving(pid, server.port),
            "ffmpeg to listen again",
            timeout=20,
        )
        assert _frames(server.url, 10) == 10


@pytest.mark.parametrize("how", ["kill()", "SIGKILL from outside"])
def test_a_killed_server_stays_down(how: str) -> None:
    with StreamServer() as server:
        pid = server.pid
        assert pid is not None
        if how == "kill()":
            server.kill()
        else:
            os.kill(pid, signal.SIGKILL)
        wait_until(lambda: process_ended(pid), "ffmpeg to end")
        with pytest.raises(SourceError, match="connection refused"):
            open_source(server.url, open_timeout_s=5.0)
