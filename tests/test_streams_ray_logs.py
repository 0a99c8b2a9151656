"""The driver's log pump for Ray actors (framepipe.streams.ray_logs): its queue is bounded by
the actors it serves, and grows as streams join a running set, so that a poll's messages are
never held back (or lost) because more actors run than the engine started with."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import pytest

from framepipe.logging.transport import Receiver
from framepipe.streams.ray_logs import LogPump

PER_ACTOR = 16  # the messages an actor may have waiting for the pump
WAIT_S = 10.0


class HeldReceiver(Receiver):
    """A receiver that takes nothing until ``go`` is set, and notes what it took (no logger
    behind it: the pump's queue is what is tested)."""

    def __init__(self) -> None:  # no core: answer() below never writes
        self.go = threading.Event()
        self.taken: list[Any] = []

    def answer(
        self, message: tuple[Any, ...], *, extra: Mapping[str, object] | None = None
    ) -> tuple[Any, ...] | None:
        self.go.wait(WAIT_S)
        self.taken.append(message)
        return None


@pytest.mark.parametrize(
    ("started_with", "expected", "room_for"),
    [(1, 3, 3), (4, 1, 4)],
    ids=["grows-as-streams-join", "never-shrinks-under-messages-on-their-way"],
)
def test_a_pump_has_room_for_every_actor_it_was_told_of(
    started_with: int, expected: int, room_for: int
) -> None:
    """Each actor's messages go in without a wait while the pump's thread is held, and every
    one is handed on once it goes."""
    held = HeldReceiver()
    pump = LogPump(held, actors=started_with)
    try:
        pump.expect(expected)
        sent = [("batch", n) for n in range(room_for * PER_ACTOR)]  # one taken, the rest wait
        putting = threading.Thread(
            target=lambda: [pump.put(lambda answers: None, [m], None) for m in sent]
        )
        putting.start()
        putting.join(WAIT_S / 2)
        assert not putting.is_alive(), "put waited for room that actors it was told of need"
    finally:
        held.go.set()
        pump.stop()
    assert held.taken == sent
