"""StdlibBridge: plain logging records into the queue, without formatting or tracebacks."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from framepipe.logging import configure, get_logger
from framepipe.logging._stdlib import StdlibBridge
from logging_helpers import GateHandler, ListHandler


@pytest.fixture
def app_logger() -> Iterator[logging.Logger]:
    """A plain ``logging`` logger of the application, open down to DEBUG for the test."""
    logger = logging.getLogger("app.camera")
    logger.setLevel(logging.DEBUG)
    yield logger
    logger.setLevel(logging.NOTSET)


def test_a_full_queue_prints_no_traceback_for_stdlib_records(capfd, app_logger) -> None:
    """Unlike QueueHandler, overflowing from logging.getLogger() prints nothing per record."""
    handler = GateHandler()
    log = configure(handlers=[handler], queue_size=20)
    for i in range(500):
        app_logger.info("record %d", i)
    handler.gate.set()
    assert log.flush(timeout=10)
    assert capfd.readouterr().err == ""
    assert log.get_stats()["dropped"] >= 480 - 20


def test_mutable_arguments_of_stdlib_records_are_frozen_at_call_time(app_logger) -> None:
    """A list passed to a stdlib logger is written as it was when logged."""
    handler = GateHandler()
    log = configure(handlers=[handler])
    values = ["a"]
    app_logger.warning("values %s", values)
    values.append("b")
    handler.gate.set()
    assert log.flush(timeout=10)
    assert handler.lines == ["WARNING app.camera: values ['a']"]


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


class Recorder(logging.Handler):
    """The application's own handler: keeps each record and what it looked like on arrival."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []
        self.on_arrival: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.on_arrival.append(dict(record.__dict__))


def log_samples(logger: logging.Logger) -> None:
    """Records whose arguments a capturing handler could be tempted to render in place."""
    logger.info("ids %s", [1, 2])
    logger.info("point %(x)d,%(y)d", {"x": 1, "y": 2})
    logging.LoggerAdapter(logger, {"camera": 7}).warning("camera %r", "front")
    logger.debug("plain %d", 3)
    try:
        raise ValueError("bad frame")
    except ValueError:
        logger.exception("failed on %s", "frame 9")


def comparable(attributes: dict[str, Any]) -> dict[str, Any]:
    """A record's attributes minus those that differ between any two runs (time, traceback)."""
    compared = {
        k: v for k, v in attributes.items() if k not in ("created", "msecs", "relativeCreated")
    }
    if compared.get("exc_info"):
        exc_type, exc, _ = compared["exc_info"]
        compared["exc_info"] = (exc_type, str(exc))
    return compared


def record_samples(app_logger: logging.Logger, recorder_first: bool) -> Recorder:
    recorder = Recorder()
    root = logging.getLogger()
    if recorder_first:
        root.handlers.insert(0, recorder)
    else:
        root.addHandler(recorder)
    try:
        log_samples(app_logger)
    finally:
        root.removeHandler(recorder)
    return recorder


class TestTheCallersRecordIsLeftAlone:
    @pytest.mark.parametrize("recorder_first", [True, False], ids=["before", "after"])
    def test_a_handler_beside_capture_sees_the_records_of_a_run_without_framepipe(
        self, app_logger, recorder_first: bool
    ) -> None:
        """Before or after the bridge, the app's handler gets records equal in every attribute
        to those of a run without framepipe, and the writer adds nothing to them later."""
        without = record_samples(app_logger, recorder_first)
        sink = GateHandler()  # holds the writer back until the callers' handlers are done
        sink.setFormatter(logging.Formatter("%(asctime)s %(message)s"))  # sets record.asctime
        log = configure(handlers=[sink], level="DEBUG")
        beside = record_samples(app_logger, recorder_first)
        after_callers = [dict(vars(r)) for r in beside.records]
        sink.gate.set()
        assert log.flush(timeout=10)
        assert len(sink.lines) == len(without.records) == 5
        assert [comparable(r) for r in beside.on_arrival] == [
            comparable(r) for r in without.on_arrival
        ]
        assert [vars(r) for r in beside.records] == after_callers

    def test_the_sink_gets_each_message_rendered_with_its_arguments(self, app_logger) -> None:
        """What the caller's record is spared still reaches the sink rendered."""
        sink = ListHandler()
        log = configure(handlers=[sink], level="DEBUG")
        log_samples(app_logger)
        assert log.flush(timeout=10)
        assert sink.lines[:4] == [
            "INFO app.camera: ids [1, 2]",
            "INFO app.camera: point 1,2",
            "WARNING app.camera: camera 'front'",
            "DEBUG app.camera: plain 3",
        ]
        assert sink.lines[4].startswith("ERROR app.camera: failed on frame 9\nTraceback")


class TestLevels:
    def test_framepipe_filters_stdlib_records_by_its_own_level(self, app_logger) -> None:
        """The app's logger lets DEBUG through; framepipe at INFO keeps INFO and up, and
        follows a later setLevel."""
        sink = ListHandler()
        log = configure(handlers=[sink], level="INFO")
        app_logger.debug("hidden")
        app_logger.info("shown")
        log.setLevel("WARNING")
        app_logger.info("hidden too")
        app_logger.warning("shown too")
        assert log.flush(timeout=10)
        assert sink.lines == ["INFO app.camera: shown", "WARNING app.camera: shown too"]
        assert get_logger().level == logging.WARNING
