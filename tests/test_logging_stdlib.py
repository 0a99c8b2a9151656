"""StdlibBridge: plain logging records into the queue, without formatting or tracebacks."""

from __future__ import annotations

import logging

from framepipe.logging import configure
from framepipe.logging._stdlib import StdlibBridge
from logging_helpers import GateHandler


def test_a_full_queue_prints_no_traceback_for_stdlib_records(capfd) -> None:
    """Unlike QueueHandler, overflowing from logging.getLogger() prints nothing per record."""
    handler = GateHandler()
    log = configure(handlers=[handler], queue_size=20)
    plain = logging.getLogger("plain.flood")
    for i in range(500):
        plain.info("record %d", i)
    handler.gate.set()
    assert log.flush(timeout=10)
    assert capfd.readouterr().err == ""
    assert log.get_stats()["dropped"] >= 480 - 20


def test_mutable_arguments_of_stdlib_records_are_frozen_at_call_time() -> None:
    """A list passed to a stdlib logger is written as it was when logged."""
    handler = GateHandler()
    log = configure(handlers=[handler])
    values = ["a"]
    logging.getLogger("plain").warning("values %s", values)
    values.append("b")
    handler.gate.set()
    assert log.flush(timeout=10)
    assert handler.lines == ["WARNING plain: values ['a']"]


def test_stdlib_records_are_not_formatted_on_the_caller() -> None:
    """The caller's record reaches the writer unformatted (no message/asctime set yet)."""
    handler = GateHandler()
    log = configure(handlers=[handler])
    [bridge] = [h for h in logging.getLogger().handlers if isinstance(h, StdlibBridge)]
    record = logging.LogRecord("plain", logging.INFO, __file__, 1, "n=%d", (3,), None)
    bridge.handle(record)
    assert not hasattr(record, "message")
    handler.gate.set()
    assert log.flush(timeout=10)
    assert handler.lines == ["INFO plain: n=3"]
