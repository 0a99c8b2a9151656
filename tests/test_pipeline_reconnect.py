"""ReconnectingSource against a real ffmpeg-served stream that is killed, paused and restarted."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from framepipe.pipeline.reconnect import ReconnectingSource, backoff_s
from framepipe.pipeline.sources import Source, SourceError, open_source
from streams import StreamServer


class RecordingLog:
    """Keeps (level, message) pairs, as a logger's caller would see them rendered."""

    def __init__(self) -> None:
        self.records: list[tuple[str, str]] = []

    def info(self, msg: str, *args: object) -> None:
        self.records.append(("INFO", msg % args))

    def warning(self, msg: str, *args: object) -> None:
        self.records.append(("WARNING", msg % args))

    def messages(self, level: str) -> list[str]:
        return [text for lvl, text in self.records if lvl == level]


@pytest.fixture
def server() -> Iterator[StreamServer]:
    with StreamServer() as running:
        yield running


def _open(url: str) -> Source:
    return open_source(url, open_timeout_s=3.0, read_timeout_s=1.0)


def _read_frames(source: Source, count: int, timeout: float = 20.0) -> int:
    got, deadline = 0, time.monotonic() + timeout
    while got < count and time.monotonic() < deadline:
        if source.read() is None:
            break
        got += 1
    return got


def _reconnecting(server: StreamServer, log: RecordingLog, **options: Any) -> ReconnectingSource:
    """A source on ``server``'s stream that reopens the same URL when it is lost."""
    return ReconnectingSource(_open(server.url), lambda: _open(server.url), log, **options)


def _read_while_restarting(source: Source, server: StreamServer, after_s: float, count: int) -> int:
    """Read up to ``count`` frames while ``server`` is started again ``after_s`` seconds on."""
    restarter = threading.Timer(after_s, server.start)
    restarter.start()
    try:
        return _read_frames(source, count, timeout=30)
    finally:
        restarter.join(20)


class TestBackoff:
    def test_waits_double_up_to_the_cap_with_jitter_of_at_most_half(self) -> None:
        """Attempt n waits between half and all of min(cap, 0.5 * 2**(n-1)) seconds."""
        rng = random.Random(7)
        for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (8, 10.0), (60, 10.0)]:
            waits = [backoff_s(attempt, 10.0, rng) for _ in range(200)]
            assert ceiling * 0.5 <= min(waits) and max(waits) <= ceiling
            assert max(waits) - min(waits) > ceiling * 0.3  # really jittered


class TestAgainstARealStream:
    def test_a_killed_server_that_comes_back_is_reconnected(self, server: StreamServer) -> None:
        """Kill ffmpeg mid-run, start it again on the same port: frames flow again, counted."""
        log = RecordingLog()
        source = _reconnecting(server, log, max_backoff_s=0.5)
        try:
            assert _read_frames(source, 15) == 15
            server.kill()
            assert _read_while_restarting(source, server, after_s=1.5, count=200) == 200
            assert source.reconnects == 1
            assert source.disconnected_s > 0.5
            assert source.state == "running"
        finally:
            source.release()
        warnings = log.messages("WARNING")
        assert any("disconnected after" in text for text in warnings)
        assert any("running again after" in text for text in log.messages("INFO"))
        assert source.state == "ended"

    def test_a_stalled_server_counts_as_a_disconnect(self, server: StreamServer) -> None:
        """SIGSTOP keeps the connection open with nothing arriving: after the read timeout it
        is a disconnect, and a restarted server is reconnected."""
        source = _reconnecting(server, RecordingLog(), max_backoff_s=0.5)
        try:
            assert _read_frames(source, 10) == 10
            server.pause()
            # start() kills the paused server first
            assert _read_while_restarting(source, server, after_s=2.5, count=60) == 60
            assert source.reconnects == 1
        finally:
            source.release()

    def test_attempts_that_run_out_end_in_a_source_error(self, server: StreamServer) -> None:
        """No server comes back: after the given attempts, SourceError says the stream is lost."""
        log = RecordingLog()
        source = _reconnecting(server, log, attempts=3, max_backoff_s=0.2)
        try:
            assert _read_frames(source, 5) == 5
            server.kill()
            started = time.monotonic()
            with pytest.raises(SourceError, match="3 reconnect attempts failed"):
                _read_frames(source, 10_000)
            assert time.monotonic() - started < 15
            assert source.state == "ended"
            assert len([t for t in log.messages("WARNING") if "attempt" in t]) == 3
        finally:
            source.release()

    def test_cancelling_ends_the_reconnect_wait_at_once(self, server: StreamServer) -> None:
        """A stop while waiting to reconnect returns None (end) within a fraction of a second."""
        stop = threading.Event()
        source = _reconnecting(
            server, RecordingLog(), max_backoff_s=30.0, cancelled=stop.is_set, rng=random.Random(1)
        )
        try:
            assert _read_frames(source, 5) == 5
            server.kill()
            threading.Timer(1.0, stop.set).start()
            started = time.monotonic()
            while source.read() is not None:
                pass
            assert time.monotonic() - started < 5
        finally:
            source.release()


class TestValidation:
    @pytest.mark.parametrize(("kwargs", "match"), [
        ({"attempts": -1}, "attempts must be >= 0 or None, but got -1"),
        ({"max_backoff_s": 0}, "max_backoff_s must be positive, but got 0"),
    ])  # fmt: skip
    def test_bad_settings_say_expected_and_actual(self, kwargs: dict, match: str) -> None:
        """Settings are checked up front, with expected-versus-actual messages."""
        first = open_source("synthetic:32x32@30:1")
        try:
            with pytest.raises(ValueError, match=match):
                ReconnectingSource(first, lambda: first, RecordingLog(), **kwargs)
        finally:
            first.release()
