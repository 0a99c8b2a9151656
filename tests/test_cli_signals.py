"""Tests for framepipe.bench.interrupts: stop signals as one exception, with real signals."""

from __future__ import annotations

import os
import signal

import pytest

from framepipe.bench.interrupts import STOP_SIGNALS, Interrupted, StopSignals


def _signal_self(signum: int) -> None:
    os.kill(os.getpid(), signum)


def _signal_twice_cleaning_up(done: list[str]) -> None:
    try:
        _signal_self(signal.SIGINT)
    finally:
        _signal_self(signal.SIGTERM)
        done.append("cleaned up")


def test_a_signal_raises_interrupted_with_the_shells_exit_code():
    """SIGTERM inside the block raises Interrupted naming it; the exit code is 128 + 15."""
    with pytest.raises(Interrupted) as raised, StopSignals():
        _signal_self(signal.SIGTERM)
    assert (raised.value.name, raised.value.exit_code) == ("SIGTERM", 143)


def test_a_second_signal_does_not_cut_the_cleanup_short():
    """Only the first signal raises: one arriving while ``finally`` cleans up is ignored."""
    done: list[str] = []
    with pytest.raises(Interrupted) as raised, StopSignals():
        _signal_twice_cleaning_up(done)
    assert done == ["cleaned up"]
    assert raised.value.signum == signal.SIGINT


def test_the_previous_handlers_come_back():
    """Inside the block both signals are handled; leaving it, also by an interrupt, restores
    what was installed before."""
    before = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    with StopSignals():
        inside = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    with pytest.raises(Interrupted), StopSignals():
        _signal_self(signal.SIGINT)
    assert all(inside[signum] != before[signum] for signum in STOP_SIGNALS)
    assert {signum: signal.getsignal(signum) for signum in STOP_SIGNALS} == before
