"""Logger: the level check and the logging.Logger-like surface."""

from __future__ import annotations

import logging

from framepipe.logging import configure
from logging_helpers import ListHandler


def test_calls_below_the_level_enqueue_nothing() -> None:
    """debug() under INFO is not accepted at all."""
    log = configure(handlers=[ListHandler()], level="INFO")
    log.debug("hidden %s", "x")
    assert log.get_stats()["accepted"] == 0
    assert not log.isEnabledFor(logging.DEBUG) and log.isEnabledFor(logging.INFO)


def test_every_level_method_writes_its_level() -> None:
    """debug/info/warning/error/critical/log write records at their levels."""
    handler = ListHandler("%(levelname)s %(message)s")
    log = configure(handlers=[handler], level="DEBUG")
    log.debug("d")
    log.info("i")
    log.warning("w")
    log.error("e")
    log.critical("c")
    log.log(logging.WARNING, "l")
    assert log.flush(timeout=10)
    assert handler.lines == ["DEBUG d", "INFO i", "WARNING w", "ERROR e", "CRITICAL c", "WARNING l"]


def test_set_level_takes_names_and_numbers() -> None:
    """setLevel accepts logging's names and ints, like logging.Logger."""
    log = configure(handlers=[ListHandler()])
    log.setLevel("ERROR")
    assert log.level == logging.ERROR
    log.setLevel(logging.DEBUG)
    assert log.getEffectiveLevel() == logging.DEBUG


def test_get_queue_size_counts_waiting_entries() -> None:
    """get_queue_size() is the number of entries the writer has not taken yet."""
    from logging_helpers import GateHandler

    handler = GateHandler()
    log = configure(handlers=[handler])
    log.info("taken by the writer, which then waits on the gate")
    for _ in range(5):
        log.info("queued")
    size = log.get_queue_size()
    handler.gate.set()
    assert log.flush(timeout=10)
    assert 5 <= size <= 6
    assert log.get_queue_size() == 0
