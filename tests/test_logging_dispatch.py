"""Dispatcher and build_record: records as logging would make them; failing sinks counted."""

from __future__ import annotations

import io
import logging
import os

import pytest

from framepipe.logging import configure
from framepipe.logging._dispatch import Dispatcher, build_record, needs_fields
from framepipe.logging._sinks import BatchRotatingFileHandler
from logging_helpers import ListHandler


def test_build_record_matches_what_logging_makes() -> None:
    """A captured entry becomes a LogRecord with the same message, level, time and caller."""
    entry = (1_700_000_000.25, logging.ERROR, "cam", "n=%d", (5,), None, 42,
             ("/src/app/grab.py", 17, "grab"), "reader", {"camera": 0})
    record = build_record(entry)  # type: ignore[arg-type]
    assert record.getMessage() == "n=5"
    assert (record.levelname, record.name, record.created, record.msecs) == (
        "ERROR", "cam", 1_700_000_000.25, 250.0)
    assert (record.filename, record.module, record.lineno, record.funcName) == (
        "grab.py", "grab", 17, "grab")
    assert (record.thread, record.threadName, record.process) == (42, "reader", os.getpid())
    assert record.camera == 0  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("%(message)s", (False, False)),  # nothing to capture
        ("%(lineno)d %(message)s", (True, False)),  # caller fields
        ("{funcName} {message}", (True, False)),  # str.format style too
        ("%(threadName)s %(message)s", (False, True)),  # thread name only
    ],
)
def test_needs_fields_reads_the_formats(fmt: str, expected: tuple[bool, bool]) -> None:
    """Caller fields and thread names are captured only when a sink's format shows them."""
    handler = logging.StreamHandler(io.StringIO())
    handler.setFormatter(logging.Formatter(fmt, style="{" if "{" in fmt else "%"))
    assert needs_fields([handler]) == expected


class TestFailingSinks:
    def test_a_full_disk_is_counted_and_reported_once(self, capfd) -> None:
        """Writing to /dev/full: errors counted per record, one line on stderr, writer alive."""
        full = logging.StreamHandler(open("/dev/full", "w"))  # noqa: SIM115 - closed by stop()
        good = ListHandler()
        log = configure(handlers=[full, good])
        for i in range(50):
            log.info("r %d", i)
        assert log.flush(timeout=10)
        stats = log.get_stats()
        err = capfd.readouterr().err
        assert err.count("framepipe.logging: sink") == 1
        assert "No space left on device" in err
        assert "Traceback" not in err
        assert stats["errors"] == 50 and stats["listener_running"] is True
        assert len(good.lines) == 50  # the other sink still got everything

    def test_a_sink_whose_emit_raises_does_not_kill_the_writer(self, capfd) -> None:
        """A handler that raises out of handle() is counted; later records still flow."""

        class Exploding(logging.Handler):
            def handle(self, record: logging.LogRecord) -> bool:  # type: ignore[override]
                raise RuntimeError("sink broke")

        log = configure(handlers=[Exploding()])
        log.info("a")
        log.info("b")
        assert log.flush(timeout=10)
        assert log.get_stats()["errors"] == 2
        assert capfd.readouterr().err.count("RuntimeError: sink broke") == 1

    def test_a_batch_sink_failure_counts_every_record_of_the_batch(self, tmp_path) -> None:
        """When the file sink cannot write, every record of the failed batch is an error."""
        handler = BatchRotatingFileHandler(tmp_path / "x.txt")
        handler.stream.close()
        handler.stream = open("/dev/full", "w")  # noqa: SIM115 - closed by the handler
        dispatcher = Dispatcher([handler], stderr=io.StringIO())
        batch = [logging.LogRecord("t", 20, "", 0, "m", (), None) for _ in range(7)]
        dispatcher.emit(batch)
        assert (dispatcher.written, dispatcher.errors) == (0, 7)
        dispatcher.close()  # counts the close failure instead of raising
