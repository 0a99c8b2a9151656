"""Dispatcher and build_record: records as logging would make them; failing sinks counted."""

from __future__ import annotations

import io
import logging
import os
import types
from pathlib import Path
from typing import Any

import pytest

from framepipe.logging import configure
from framepipe.logging._dispatch import Dispatcher, build_record, needs_fields
from framepipe.logging._sinks import DEFAULT_DATEFMT, DEFAULT_FORMAT, BatchRotatingFileHandler
from logging_helpers import ListHandler, log_lines


def test_build_record_matches_what_logging_makes() -> None:
    """A captured entry becomes a LogRecord with the same message, level, time and caller."""
    entry = (1_700_000_000.25, logging.ERROR, "cam", "n=%d", (5,), None, 42,
             ("/src/app/grab.py", 17, "grab"), "reader", {"camera": 0}, 7, None)
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
        handler = BatchRotatingFileHandler("/dev/full")
        dispatcher = Dispatcher([handler], stderr=io.StringIO())
        batch = [logging.LogRecord("t", 20, "", 0, "m", (), None) for _ in range(7)]
        dispatcher.emit(batch)
        assert (dispatcher.written, dispatcher.errors) == (0, 7)
        dispatcher.close()  # counts the close failure instead of raising


class _BadStr:
    """An argument whose __str__ raises, as a buggy user type would."""

    def __str__(self) -> str:
        raise RuntimeError("str broke")


class TestBadRecords:
    @pytest.mark.parametrize("mode", ["async", "sync"])
    @pytest.mark.parametrize(
        ("msg", "arg"),
        [
            ("bad %d", "x"),  # the arguments do not fit the format
            ("bad %s", _BadStr()),  # an argument that cannot be rendered
        ],
    )
    def test_one_bad_record_loses_only_itself(
        self, tmp_path, capfd, mode: str, msg: str, arg: object
    ) -> None:
        """Between 60 good records in the file sink, only the bad one is lost and counted."""
        log = configure(log_dir=tmp_path, mode=mode)
        for i in range(30):
            log.info("good %d", i)
        log.info(msg, arg)
        for i in range(30, 60):
            log.info("good %d", i)
        assert log.flush(timeout=10)
        stats = log.get_stats()
        lines = Path(stats["log_file"]).read_text(encoding="utf-8").splitlines()
        assert [line.rsplit(": ", 1)[1] for line in lines] == [f"good {i}" for i in range(60)]
        assert (stats["written"], stats["errors"]) == (60, 1)
        capfd.readouterr()

    def test_bad_records_are_reported_once_as_logging_does(self, tmp_path, capfd) -> None:
        """The first bad record prints '--- Logging error ---' and its message; the rest count."""
        log = configure(log_dir=tmp_path)
        log.info("bad %d", "x")
        log.info("worse %d", "y")
        log.info("fine")
        assert log.flush(timeout=10)
        err = capfd.readouterr().err
        assert err.count("--- Logging error ---") == 1
        assert "TypeError: %d format: a real number is required, not str" in err
        assert "Message: 'bad %d'\nArguments: ('x',)" in err
        assert "worse" not in err
        assert "counted in get_stats()['errors']" in err
        assert (log.get_stats()["written"], log.get_stats()["errors"]) == (1, 2)

    def test_a_bad_record_in_a_per_record_sink_is_reported_as_a_bad_record(self, capfd) -> None:
        """A plain logging.Handler sink: the bad record is a logging error, not a failed sink."""
        handler = ListHandler()
        log = configure(handlers=[handler])
        log.info("bad %d", "x")
        log.info("fine")
        assert log.flush(timeout=10)
        err = capfd.readouterr().err
        assert err.count("--- Logging error ---") == 1
        assert "sink" not in err
        assert handler.lines == ["INFO framepipe: fine"]
        assert (log.get_stats()["written"], log.get_stats()["errors"]) == (1, 1)

    def test_a_record_two_sinks_refuse_is_one_error(self, tmp_path, capfd) -> None:
        """A bad record is counted once however many sinks fail to format it."""
        handler = ListHandler()
        file_sink = BatchRotatingFileHandler(tmp_path / "two.txt")
        log = configure(handlers=[file_sink, handler])
        log.info("good")
        log.info("bad %d", "x")
        assert log.flush(timeout=10)
        assert (log.get_stats()["written"], log.get_stats()["errors"]) == (1, 1)
        capfd.readouterr()


class TestTheFileSinksFastPath:
    def test_a_line_that_cannot_be_encoded_is_lost_alone(self, tmp_path, capfd) -> None:
        """A lone surrogate costs its own record, reported as logging does, not the batch."""
        log = configure(log_dir=tmp_path)
        for i in range(30):
            log.info("good %d", i)
        log.info("bad \udc80 surrogate")
        for i in range(30, 60):
            log.info("good %d", i)
        lines = log_lines(log)
        assert [line.rsplit(": ", 1)[1] for line in lines] == [f"good {i}" for i in range(60)]
        assert (log.get_stats()["written"], log.get_stats()["errors"]) == (60, 1)
        err = capfd.readouterr().err
        assert err.count("--- Logging error ---") == 1
        assert "UnicodeEncodeError" in err
        assert "framepipe.logging: sink" not in err

    def test_a_single_mapping_argument_fills_the_keys_as_in_logging(self, tmp_path) -> None:
        """Any non-empty mapping as the only argument (not just a dict) is used for %(key)s."""
        log = configure(log_dir=tmp_path)
        log.info("size %(w)dx%(h)d", types.MappingProxyType({"w": 640, "h": 480}))
        assert log_lines(log)[0].endswith("framepipe: size 640x480")

    def test_a_filter_on_the_file_sink_sees_every_record(self, tmp_path) -> None:
        """With a filter the sink's records are built, so the filter can drop or change them."""

        def redact(record: logging.LogRecord) -> bool:
            record.msg = str(record.msg).replace("secret", "***")
            return "skip" not in record.msg

        sink = file_sink(tmp_path)
        sink.addFilter(redact)
        log = configure(handlers=[sink])
        log.info("the secret is %s", 42)
        log.info("skip me")
        log.info("plain")
        assert sink_messages(log, sink) == ["the *** is 42", "plain"]

    def test_a_new_formatter_is_used_from_the_next_batch(self, tmp_path) -> None:
        """setFormatter() on the running file sink changes the lines that follow."""
        sink = file_sink(tmp_path)
        log = configure(handlers=[sink])
        log.info("before")
        assert log.flush(timeout=10)
        sink.setFormatter(logging.Formatter("<%(levelname)s> %(message)s"))
        log.info("after")
        assert log.flush(timeout=10)
        lines = Path(sink.baseFilename).read_text(encoding="utf-8").splitlines()
        assert lines[0].endswith("INFO     framepipe: before")
        assert lines[1] == "<INFO> after"

    def test_records_below_the_sinks_own_level_are_skipped_not_failed(self, tmp_path) -> None:
        """A level set on the file sink leaves lower records out, as logging.Handler does."""
        sink = file_sink(tmp_path)
        sink.setLevel(logging.WARNING)
        log = configure(handlers=[sink])
        log.info("quiet")
        log.warning("loud")
        assert sink_messages(log, sink) == ["loud"]
        assert (log.get_stats()["written"], log.get_stats()["errors"]) == (2, 0)


def file_sink(directory: Path) -> BatchRotatingFileHandler:
    """framepipe's file sink with its default format, as configure() builds it."""
    sink = BatchRotatingFileHandler(directory / "sink.txt", encoding="utf-8")
    sink.setFormatter(logging.Formatter(DEFAULT_FORMAT, DEFAULT_DATEFMT))
    return sink


def sink_messages(log: Any, sink: BatchRotatingFileHandler) -> list[str]:
    """Flush ``log`` and return the messages in ``sink``'s file."""
    assert log.flush(timeout=10)
    lines = Path(sink.baseFilename).read_text(encoding="utf-8").splitlines()
    return [line.split(": ", 1)[1] if ": " in line else line for line in lines]
