"""framepipe.logging.transport: the log channel's two ends over a transport of the caller's own.

The tests carry the messages over a ``multiprocessing`` pipe, pumped by a thread of the test, as
the Ray engine carries them over actor calls.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Iterator
from multiprocessing.connection import Connection
from typing import Any

import pytest

from framepipe.logging import _defaults, configure, transport
from logging_helpers import ListHandler

SPAWN = multiprocessing.get_context("spawn")
JOIN_TIMEOUT_S = 60.0
FORMAT = "%(levelname)s [%(stream)s %(process)d #%(seq)d] %(name)s: %(message)s"


def child_logs(conn: Connection, settings: dict[str, Any], count: int) -> None:
    """In a child process: log through ``conn``, report whether the flush was confirmed."""
    log = transport.connect(conn, "cam1", settings, capture_stdlib=False)
    for i in range(count):
        log.info("frame %d", i, extra={"camera": "door"})
    print("flushed" if log.flush(timeout=30) else "not flushed", flush=True)
    log.stop()


class Pump:
    """The test's end of the pipe: hands each message to the receiver and sends its answer."""

    def __init__(self, rx: transport.Receiver, conn: Connection, node: str | None) -> None:
        self.rx, self.conn, self.node = rx, conn, node
        self.kinds: list[str] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        extra = {"node": self.node} if self.node is not None else None
        while True:
            try:
                message = self.conn.recv()
            except (EOFError, OSError):
                return
            self.kinds.append(message[0])
            answer = self.rx.answer(message, extra=extra)
            if answer is not None:
                self.conn.send(answer)
            if message[0] == "bye":
                return


@pytest.fixture
def pipe() -> Iterator[tuple[Connection, Connection]]:
    ours, theirs = SPAWN.Pipe()
    yield ours, theirs
    ours.close()
    theirs.close()


def run_child(theirs: Connection, settings: dict[str, Any], count: int) -> int | None:
    child = SPAWN.Process(target=child_logs, args=(theirs, settings, count))
    child.start()
    child.join(JOIN_TIMEOUT_S)
    if child.is_alive():
        child.kill()
        child.join()
        pytest.fail("the child did not end")
    return child.exitcode


class TestReceiver:
    def test_settings_are_the_writing_loggers(self) -> None:
        """A child connected with these settings runs with this logger's level and queue."""
        configure(log_dir=None, level="DEBUG", queue_size=123, overflow="drop_oldest",
                  capture_stdlib=False)
        settings = transport.receiver().settings()
        assert (settings["queue_size"], settings["overflow"]) == (123, "drop_oldest")
        assert settings["level"] == 10

    def test_a_sync_parent_gives_children_the_default_queue(self) -> None:
        """A parent in sync mode has no queue: its children get the default size and wait."""
        configure(log_dir=None, mode="sync", capture_stdlib=False)
        settings = transport.receiver().settings()
        assert (settings["queue_size"], settings["block_timeout"]) == (
            _defaults.QUEUE_SIZE, _defaults.BLOCK_TIMEOUT_S
        )

    def test_a_stdlib_logger_means_the_process_wide_one(self) -> None:
        """receiver(logging.getLogger(...)) receives into this process's framepipe logger."""
        import logging

        sink = ListHandler()
        configure(log_dir=None, level="WARNING", handlers=[sink], capture_stdlib=False)
        settings = transport.receiver(logging.getLogger("app")).settings()
        assert settings["level"] == logging.WARNING

    def test_a_message_it_does_not_know_gets_no_answer(self) -> None:
        """Only batch, flush and bye are answered; anything else is left alone."""
        configure(log_dir=None, capture_stdlib=False)
        assert transport.receiver().answer(("hello", 1, "cam1", 1, "x")) is None

    def test_a_flush_is_answered_once_written(self) -> None:
        """("flush",) is answered ("flushed", True) when this logger has written its queue."""
        configure(log_dir=None, handlers=[ListHandler()], capture_stdlib=False)
        assert transport.receiver().answer(("flush",)) == ("flushed", True)


class TestConnect:
    def test_a_childs_records_reach_the_writer_with_their_stream_pid_and_extra(
        self, pipe: tuple[Connection, Connection]
    ) -> None:
        """Every record of the child is written here, numbered, with the child's stream and
        pid, its own extra and the receiver's added fields; the child's flush is confirmed."""
        sink = ListHandler(FORMAT + " %(camera)s@%(node)s")
        log = configure(log_dir=None, handlers=[sink], capture_stdlib=False)
        rx = transport.receiver(log)
        ours, theirs = pipe
        pump = Pump(rx, ours, node="n1")
        assert run_child(theirs, rx.settings(), 3) == 0
        pump.thread.join(JOIN_TIMEOUT_S)
        assert log.flush(timeout=10)
        records = [r for r in sink.records if r.getMessage().startswith("frame")]
        assert [r.getMessage() for r in records] == ["frame 0", "frame 1", "frame 2"]
        assert {(r.stream, r.camera, r.node) for r in records} == {  # type: ignore[attr-defined]
            ("cam1", "door", "n1")
        }
        assert len({r.process for r in records}) == 1
        assert records[0].process != os.getpid()
        assert [r.seq for r in records] == [1, 2, 3]  # type: ignore[attr-defined]
        assert pump.kinds[0] == "batch" and pump.kinds[-1] == "bye"
        assert "flush" in pump.kinds

    def test_the_receivers_stats_count_what_it_took(
        self, pipe: tuple[Connection, Connection]
    ) -> None:
        """The child's records are accepted and written by this logger, counted like its own."""
        log = configure(log_dir=None, handlers=[ListHandler()], capture_stdlib=False)
        rx = transport.receiver(log)
        ours, theirs = pipe
        pump = Pump(rx, ours, node=None)
        assert run_child(theirs, rx.settings(), 5) == 0
        pump.thread.join(JOIN_TIMEOUT_S)
        assert log.flush(timeout=10)
        stats = log.get_stats()
        assert stats["accepted"] == stats["written"] == 5

    @pytest.mark.parametrize("stream", ["", "  ", None, 3])
    def test_a_stream_must_name_the_process(self, stream: object) -> None:
        """connect() refuses a stream that is not a non-empty str, before touching anything."""
        configure(log_dir=None, capture_stdlib=False)
        ours, theirs = SPAWN.Pipe()
        try:
            with pytest.raises(ValueError, match="stream must be a non-empty str"):
                transport.connect(ours, stream, transport.receiver().settings())  # type: ignore[arg-type]
        finally:
            ours.close()
            theirs.close()

    def test_it_is_the_public_way_in(self) -> None:
        """The transport module lists its names; they are the ones the Ray engine needs."""
        assert sorted(transport.__all__) == ["Receiver", "Transport", "connect", "receiver"]
