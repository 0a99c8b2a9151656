"""The shared test helpers keep their promises: a wait that fails says what it waited for, the
manual clock moves only when told, and a log entry is one the writer can turn into a record."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import threading
import time

import pytest

from framepipe.logging._capture import ENTRY_LENGTH
from framepipe.logging._records import build_record
from helpers import (
    LOWEST_FREE_PORT,
    ManualClock,
    _first_ephemeral_port,
    child_command,
    free_port,
    log_entry,
    process_ended,
    refused_port,
    wait_until,
)


class TestWaitUntil:
    def test_returns_the_first_true_result(self) -> None:
        """The condition's own value comes back, so a wait can hand over what it found."""
        calls = iter([None, 0, "found"])
        assert wait_until(lambda: next(calls), "a value", timeout=5, interval=0) == "found"

    def test_a_condition_never_met_fails_naming_what_was_awaited(self) -> None:
        """After the timeout: AssertionError with the description and the timeout."""
        started = time.monotonic()
        with pytest.raises(AssertionError, match=r"timed out after 0.2 s waiting for the door"):
            wait_until(lambda: False, "the door", timeout=0.2)
        assert 0.2 <= time.monotonic() - started < 5

    def test_a_described_state_is_read_when_the_wait_fails(self) -> None:
        """``what`` as a function reports how far things got at the deadline, not at the start."""
        state = {"frames": 0}

        def progress() -> bool:
            state["frames"] += 1
            return False

        with pytest.raises(AssertionError, match=r"30 frames \(got [1-9]\d*\)"):
            wait_until(progress, lambda: f"30 frames (got {state['frames']})", timeout=0.1)


class TestManualClock:
    def test_moves_only_when_told(self) -> None:
        """Reads repeat until advance() or sleep(); sleep() keeps each wait it was asked for."""
        clock = ManualClock(100.0)
        assert clock() == clock() == 100.0
        clock.advance(0.5)
        clock.sleep(0.25)
        assert clock() == 100.75
        assert clock.sleeps == [0.25]

    def test_a_step_moves_it_after_every_read(self) -> None:
        """With ``step`` each read returns the time, then moves on by the step."""
        clock = ManualClock(step=2)
        assert [clock(), clock(), clock()] == [0, 2, 4]

    def test_advances_from_several_threads_all_count(self) -> None:
        """advance() is atomic: 4 threads x 10,000 nanoseconds add up exactly."""
        clock = ManualClock(0)

        def tick() -> None:
            for _ in range(10_000):
                clock.advance(1)

        threads = [threading.Thread(target=tick) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert clock() == 40_000


def test_a_free_port_can_be_bound_at_once() -> None:
    """Nothing holds the port it names."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", free_port()))


def test_a_free_port_is_below_the_ephemeral_ones() -> None:
    """No other process's outgoing connection or port-0 bind can be given it meanwhile."""
    ports = {free_port() for _ in range(20)}
    assert all(LOWEST_FREE_PORT <= port < _first_ephemeral_port() for port in ports), ports
    assert len(ports) > 1  # picked at random, not the same for every test


def test_a_refused_port_refuses_while_held() -> None:
    with refused_port() as port, pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5)


def test_a_log_entry_becomes_the_record_it_describes() -> None:
    """The tuple has the entry's length and layout: the writer builds the expected record."""
    entry = log_entry("frame %d", 7, level=logging.WARNING, name="framepipe", seq=3)
    assert len(entry) == ENTRY_LENGTH
    record = build_record(entry)  # type: ignore[arg-type]
    assert (record.getMessage(), record.levelno, record.name) == ("frame 7", logging.WARNING,
                                                                  "framepipe")  # fmt: skip
    assert record.thread == threading.get_ident() and record.seq == 3  # type: ignore[attr-defined]


def test_a_process_counts_as_ended_once_it_exits_even_unreaped() -> None:
    """Running: not ended. Exited but not yet waited for (a zombie): ended."""
    child = subprocess.Popen(["sleep", "30"])
    try:
        assert not process_ended(child.pid)
        child.kill()
        wait_until(lambda: process_ended(child.pid), "the killed child to exit", timeout=10)
        assert child.returncode is None  # never reaped, still counts as ended
    finally:
        child.kill()
        child.wait(10)


def test_a_child_program_is_named_by_its_file() -> None:
    """The command runs the file under tests/children with this interpreter; a typo is caught."""
    command = child_command("serve_then_wait", "--x", 3)
    assert command[1].endswith(os.path.join("tests", "children", "serve_then_wait.py"))
    assert command[2:] == ["--x", "3"]
    with pytest.raises(ValueError, match="no child program 'no_such'"):
        child_command("no_such")
