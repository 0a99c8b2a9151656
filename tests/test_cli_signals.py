"""Tests for framepipe.cli._signals: one rule for stop signals, with real signals."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from framepipe.cli._signals import (
    STOP_SIGNALS,
    Interrupted,
    hold_signals,
    ignore,
    raise_interrupt,
    stop_on_signals,
)


def _signal_self(signum: int) -> None:
    os.kill(os.getpid(), signum)


def test_the_first_signal_stops_and_a_second_one_aborts():
    """SIGINT calls stop with its number; the SIGTERM after it calls abort; both are listed."""
    calls: list[tuple[str, int]] = []
    with stop_on_signals(
        lambda signum: calls.append(("stop", signum)),
        lambda signum: calls.append(("abort", signum)),
    ) as received:
        _signal_self(signal.SIGINT)
        _signal_self(signal.SIGTERM)
        _signal_self(signal.SIGHUP)
    assert calls == [
        ("stop", signal.SIGINT),
        ("abort", signal.SIGTERM),
        ("abort", signal.SIGHUP),
    ]
    assert received == ["SIGINT", "SIGTERM", "SIGHUP"]


@pytest.mark.parametrize("signum", STOP_SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_every_stop_signal_is_handled(signum: int):
    """SIGINT, SIGTERM and SIGHUP (a closed terminal) all ask for a stop."""
    stops: list[int] = []
    with stop_on_signals(stops.append, ignore) as received:
        _signal_self(signum)
    assert stops == [signum]
    assert received == [signal.Signals(signum).name]


def test_with_reload_sighup_reloads_every_time_and_never_stops():
    """A service's block: each SIGHUP is a reload, not a stop; SIGTERM still stops first."""
    calls: list[tuple[str, int]] = []
    with stop_on_signals(
        lambda signum: calls.append(("stop", signum)),
        lambda signum: calls.append(("abort", signum)),
        reload=lambda signum: calls.append(("reload", signum)),
    ) as received:
        _signal_self(signal.SIGHUP)
        _signal_self(signal.SIGHUP)
        _signal_self(signal.SIGTERM)
        _signal_self(signal.SIGHUP)
        _signal_self(signal.SIGINT)
    assert calls == [
        ("reload", signal.SIGHUP),
        ("reload", signal.SIGHUP),
        ("stop", signal.SIGTERM),
        ("reload", signal.SIGHUP),
        ("abort", signal.SIGINT),
    ]
    assert received == ["SIGTERM", "SIGINT"]


def test_a_raising_stop_unwinds_with_the_shells_exit_code():
    """With ``raise_interrupt`` SIGTERM raises Interrupted naming it; the exit code is 128 + 15."""
    with pytest.raises(Interrupted) as raised, stop_on_signals(raise_interrupt, ignore):
        _signal_self(signal.SIGTERM)
    assert (raised.value.name, raised.value.exit_code) == ("SIGTERM", 143)


def test_an_ignored_second_signal_does_not_cut_the_cleanup_short():
    """Only the first signal raises: one arriving while ``finally`` cleans up is ignored."""
    done: list[str] = []

    def signal_twice_cleaning_up() -> None:
        try:
            _signal_self(signal.SIGINT)
        finally:
            _signal_self(signal.SIGTERM)
            done.append("cleaned up")

    with pytest.raises(Interrupted) as raised, stop_on_signals(raise_interrupt, ignore):
        signal_twice_cleaning_up()
    assert done == ["cleaned up"]
    assert raised.value.signum == signal.SIGINT


def test_the_previous_handlers_come_back():
    """Inside the block the signals are handled; leaving it, also by an interrupt, restores
    what was installed before."""
    before = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    with stop_on_signals(ignore, ignore):
        inside = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    with pytest.raises(Interrupted), stop_on_signals(raise_interrupt, ignore):
        _signal_self(signal.SIGINT)
    assert all(inside[signum] != before[signum] for signum in STOP_SIGNALS)
    assert {signum: signal.getsignal(signum) for signum in STOP_SIGNALS} == before


def test_off_the_main_thread_nothing_is_installed():
    """A thread cannot install handlers: the block runs with the process's handlers as they were."""
    before = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    seen: list[dict[int, object]] = []
    received_lists: list[list[str]] = []

    def body() -> None:
        with stop_on_signals(ignore, ignore) as received:
            seen.append({signum: signal.getsignal(signum) for signum in STOP_SIGNALS})
            received_lists.append(received)

    thread = threading.Thread(target=body)
    thread.start()
    thread.join(10)
    assert not thread.is_alive()
    assert seen == [before]
    assert received_lists == [[]]


class TestHeldSignals:
    """``hold_signals``: from a command's first instruction no stop signal is fatal or lost."""

    def test_a_signal_between_blocks_is_noted_then_acted_on_by_the_next_block(self) -> None:
        """SIGTERM before any block is only noted; entering a block stops at once with it, and
        the next signal is that block's abort."""
        calls: list[tuple[str, int]] = []
        with hold_signals() as held:
            _signal_self(signal.SIGTERM)
            assert held == ["SIGTERM"] and calls == []
            with stop_on_signals(
                lambda signum: calls.append(("stop", signum)),
                lambda signum: calls.append(("abort", signum)),
            ) as received:
                assert calls == [("stop", signal.SIGTERM)]
                _signal_self(signal.SIGINT)
            assert received == ["SIGTERM", "SIGINT"]
        assert calls == [("stop", signal.SIGTERM), ("abort", signal.SIGINT)]

    def test_sighup_noted_before_a_reloading_block_is_one_reload_not_a_stop(self) -> None:
        """A service that got SIGHUP twice while it started reloads once as its block is
        entered; a SIGTERM noted between them still stops it."""
        calls: list[tuple[str, int]] = []
        with hold_signals() as held:
            _signal_self(signal.SIGHUP)
            _signal_self(signal.SIGTERM)
            _signal_self(signal.SIGHUP)
            assert held == ["SIGHUP", "SIGTERM", "SIGHUP"]
            with stop_on_signals(
                lambda signum: calls.append(("stop", signum)),
                lambda signum: calls.append(("abort", signum)),
                reload=lambda signum: calls.append(("reload", signum)),
            ) as received:
                _signal_self(signal.SIGHUP)
            assert received == ["SIGTERM"]
            _signal_self(signal.SIGHUP)  # after the block: noted as a stop signal again
            assert held == ["SIGTERM", "SIGHUP"]
        assert calls == [
            ("reload", signal.SIGHUP),
            ("stop", signal.SIGTERM),
            ("reload", signal.SIGHUP),
        ]

    def test_a_signal_after_a_block_is_noted_not_fatal(self) -> None:
        """Between two blocks (opening a log, starting Ray) the default action never runs."""
        with hold_signals() as held:
            with stop_on_signals(ignore, ignore):
                pass
            _signal_self(signal.SIGHUP)  # the default action would end this process
            assert held == ["SIGHUP"]

    def test_leaving_restores_the_handlers_or_ignores_the_signals(self) -> None:
        """restore=True puts back what was there; restore=False (a command about to exit)
        leaves every stop signal ignored, which the interpreter's shutdown keeps."""
        before = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
        with hold_signals():
            pass
        assert {signum: signal.getsignal(signum) for signum in STOP_SIGNALS} == before
        try:
            with hold_signals(restore=False):
                pass
            assert all(signal.getsignal(s) == signal.SIG_IGN for s in STOP_SIGNALS)
        finally:
            for signum, handler in before.items():
                signal.signal(signum, handler)
