"""tests/alone.py: tests share their turns, a test marked ``alone`` has its turn to itself, and
one waiting for it keeps new ones from starting."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from alone import Turns
from helpers import wait_until

SHORT_S = 0.3  # how long a test that must not get its turn is given to get it anyway


@pytest.fixture
def turns(tmp_path: Path) -> Iterator[list[Turns]]:
    """Three holders (three workers, as it were) on lock files of their own."""
    made = [Turns(tmp_path) for _ in range(3)]
    yield made
    for one in made:
        one.close()


def test_tests_share_their_turns(turns: list[Turns]) -> None:
    a, b, _ = turns
    assert a.enter(alone=False, wait_s=SHORT_S)
    assert b.enter(alone=False, wait_s=SHORT_S)
    a.leave()
    b.leave()


def test_an_alone_test_waits_for_the_running_ones_then_has_its_turn_to_itself(
    turns: list[Turns],
) -> None:
    a, b, c = turns
    assert a.enter(alone=False, wait_s=SHORT_S)
    assert not b.enter(alone=True, wait_s=SHORT_S)  # a is running
    b.leave()
    a.leave()
    assert b.enter(alone=True, wait_s=SHORT_S)
    assert not c.enter(alone=False, wait_s=SHORT_S)
    c.leave()
    b.leave()
    assert c.enter(alone=False, wait_s=SHORT_S)
    c.leave()


def test_no_test_starts_while_an_alone_one_waits_for_its_turn(turns: list[Turns]) -> None:
    """Else a stream of short tests on the other workers could keep it waiting for ever."""
    a, b, c = turns
    assert a.enter(alone=False, wait_s=SHORT_S)
    got: list[bool] = []
    waiting = threading.Thread(target=lambda: got.append(b.enter(alone=True, wait_s=30)))
    waiting.start()
    wait_until(lambda: b._gate_held, "the alone test to take the gate")  # and wait for a
    assert not c.enter(alone=False, wait_s=SHORT_S)
    c.leave()
    a.leave()
    waiting.join(30)
    assert got == [True]
    b.leave()
    assert c.enter(alone=False, wait_s=SHORT_S)
    c.leave()


def test_a_wait_ends_at_its_deadline(turns: list[Turns]) -> None:
    a, b, _ = turns
    assert a.enter(alone=True, wait_s=SHORT_S)
    began = time.monotonic()
    assert not b.enter(alone=False, wait_s=0.5)
    assert 0.5 <= time.monotonic() - began < 5
    b.leave()
    a.leave()


def test_tests_that_start_ray_take_turns_and_hold_up_no_other_test(turns: list[Turns]) -> None:
    a, b, c = turns
    assert a.enter(alone=False, local_ray=True, wait_s=SHORT_S)
    assert not b.enter(alone=False, local_ray=True, wait_s=SHORT_S)  # a's Ray instance runs
    b.leave()
    assert c.enter(alone=False, wait_s=SHORT_S)
    c.leave()
    a.leave()
    assert b.enter(alone=False, local_ray=True, wait_s=SHORT_S)
    b.leave()
