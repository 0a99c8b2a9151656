"""Tests for framepipe.bench.modes: every mode delivers to a real sink and counts what it wrote."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from bench_helpers import root_records
from framepipe.bench.baselines import STDLIB_QUEUE_SIZE
from framepipe.bench.modes import (
    MODES,
    Counts,
    Mode,
    NoLogging,
    PicologgingMode,
    StdlibQueueMode,
    create_modes,
    parse_modes,
)
from framepipe.bench.sinks import CountingHandler, FileSink

# loguru and picologging come with the optional ``compare`` extra.
_OPTIONAL = {"loguru": "loguru", "picologging": "picologging"}


class GateSink(CountingHandler):
    """A sink that blocks every write until ``gate`` is set (a stalled network share)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()

    def deliver(self, text: str) -> None:
        self.gate.wait(timeout=10)


def _log_records(mode: Mode, sink: CountingHandler, directory: Path, count: int) -> Counts:
    target = mode.start(sink, directory)
    try:
        assert target.info is not None
        for index in range(count):
            target.info(target.template, index, 1.5)
        assert mode.drain(count, timeout=10)
    finally:
        counts = mode.stop()
    return counts


@pytest.mark.parametrize("name", [name for name in MODES if name != "none"])
def test_each_logging_mode_writes_every_record_to_the_sink(name: str, tmp_path: Path) -> None:
    """Records logged through any mode end up in the sink file, rendered, and are counted."""
    if name in _OPTIONAL:
        pytest.importorskip(_OPTIONAL[name], reason="optional 'compare' extra not installed")
    sink = FileSink(tmp_path / "sink.log")
    try:
        counts = _log_records(create_modes([name])[0], sink, tmp_path, 25)
    finally:
        sink.close()
    lines = (tmp_path / "sink.log").read_text(encoding="utf-8").splitlines()
    assert counts == Counts(written=25, dropped=0)
    assert sum("frame 7 processed in 1.500 ms" in line for line in lines) == 1
    assert len([line for line in lines if "processed in" in line]) == 25


def test_the_baseline_logs_nothing(tmp_path: Path) -> None:
    """``none`` hands the loop no log call and reports nothing written."""
    mode = NoLogging()
    assert mode.start(FileSink(tmp_path / "x.log"), tmp_path).info is None
    assert mode.stop() == Counts(written=0, dropped=0)


def test_stdlib_queue_counts_drops_when_its_bounded_queue_is_full(tmp_path: Path) -> None:
    """With a stalled sink, records beyond the 10000-record queue are dropped and counted."""
    sink = GateSink()
    mode = StdlibQueueMode()
    target = mode.start(sink, tmp_path)
    extra = 50
    calls = STDLIB_QUEUE_SIZE + extra
    try:
        assert target.info is not None
        for index in range(calls):
            target.info(target.template, index, 0.0)
    finally:
        sink.gate.set()
        assert mode.drain(calls, timeout=30)
        counts = mode.stop()
    # the listener may have taken the first record off the queue before the rest arrived
    assert extra - 1 <= counts.dropped <= extra
    assert counts.written + counts.dropped == calls


def test_stdlib_queue_records_stay_out_of_the_root_logger(tmp_path: Path) -> None:
    """The classic-design logger is private: nothing propagates to the root logger's handlers."""
    sink = FileSink(tmp_path / "x.log")
    try:
        with root_records() as seen:
            counts = _log_records(StdlibQueueMode(), sink, tmp_path, 3)
    finally:
        sink.close()
    assert counts.written == 3
    assert [r for r in seen if r.name.startswith("framepipe.bench")] == []


def test_picologging_without_its_queue_handler_writes_on_the_caller(tmp_path: Path) -> None:
    """The fallback path (no QueueHandler) still delivers every record, and says which path."""
    pytest.importorskip("picologging", reason="optional 'compare' extra not installed")
    sink = FileSink(tmp_path / "x.log")
    mode = PicologgingMode(use_queue=False)
    target = mode.start(sink, tmp_path)
    assert target.info is not None
    target.info(target.template, 1, 2.0)
    assert sink.written == 1  # written before the call returned: no queue in between
    assert mode.stop() == Counts(written=1, dropped=0)
    sink.close()
    assert "plain handler" in mode.description


def test_picologging_reports_its_queue_handler(tmp_path: Path) -> None:
    """When picologging has a QueueHandler, the mode uses it and its description says so."""
    pytest.importorskip("picologging", reason="optional 'compare' extra not installed")
    sink = FileSink(tmp_path / "x.log")
    counts = _log_records(PicologgingMode(), sink, tmp_path, 2)
    sink.close()
    assert counts.written == 2
    assert PicologgingMode().description == "picologging"  # refined only once started


def test_loguru_mode_leaves_the_global_loguru_logger_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """loguru's default stderr handler never sees the benchmark's records."""
    pytest.importorskip("loguru", reason="optional 'compare' extra not installed")
    sink = FileSink(tmp_path / "x.log")
    counts = _log_records(create_modes(["loguru"])[0], sink, tmp_path, 3)
    sink.close()
    assert counts.written == 3
    assert "processed in" not in capsys.readouterr().err


class MissingPackageMode(NoLogging):
    """A mode that needs a package which does not exist."""

    name = "missing"
    requires = "framepipe_no_such_package_for_tests"


def test_a_mode_whose_package_does_not_import_reports_why() -> None:
    """A real import failure makes the mode unavailable, with the package named."""
    reason = MissingPackageMode().unavailable_reason()
    assert reason is not None
    assert "framepipe_no_such_package_for_tests" in reason


def test_a_mode_without_requirements_is_available() -> None:
    """Modes needing nothing beyond the standard library always run."""
    assert StdlibQueueMode().unavailable_reason() is None


def test_draining_a_mode_that_never_started_is_an_error() -> None:
    """Lifecycle misuse is a clear RuntimeError, not an AttributeError deep inside."""
    with pytest.raises(RuntimeError, match="must be started first"):
        StdlibQueueMode().drain(1, timeout=0.1)


class TestParseModes:
    def test_baseline_is_always_first(self) -> None:
        """Overheads need ``none``: it is added, first, when the list leaves it out."""
        assert parse_modes("async,sync") == ["none", "async", "sync"]
        assert parse_modes("sync,none") == ["none", "sync"]

    def test_rejects_unknown_modes(self) -> None:
        """An unknown name is a ValueError listing the known ones."""
        with pytest.raises(ValueError, match=r"modes must be among none, sync.*but got 'foo'"):
            parse_modes("sync,foo")

    def test_rejects_duplicates(self) -> None:
        """A repeated mode is reported, not silently merged."""
        with pytest.raises(ValueError, match="modes must be distinct"):
            parse_modes("sync,sync")
