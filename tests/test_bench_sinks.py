"""Tests for framepipe.bench.sinks: real files, real fsync, the slow sink, --sink parsing."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from framepipe.bench.sinks import FileSink, FsyncSink, SinkSpec, SlowSink, parse_sink, parse_sinks


def _record(message: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("bench", logging.INFO, __file__, 1, message, args, None)


class TestFileSinks:
    @pytest.mark.parametrize("sink_class", [FileSink, FsyncSink])
    def test_writes_one_formatted_line_per_record_and_counts_it(
        self, tmp_path: Path, sink_class: type[FileSink]
    ) -> None:
        """Each handled record is one line in the file with the rendered message."""
        path = tmp_path / "bench.log"
        sink = sink_class(path)
        try:
            for index in range(3):
                sink.handle(_record("frame %d processed", index))
        finally:
            sink.close()
        lines = path.read_text(encoding="utf-8").splitlines()
        assert [line.split(": ", 1)[1] for line in lines] == [
            f"frame {index} processed" for index in range(3)
        ]
        assert sink.written == 3

    def test_close_twice_is_harmless(self, tmp_path: Path) -> None:
        """Modes and the runner may both close a sink."""
        sink = FileSink(tmp_path / "x.log")
        sink.close()
        sink.close()

    def test_a_failed_write_is_not_counted(self, tmp_path: Path) -> None:
        """A record the sink could not deliver does not count as written."""
        sink = FileSink(tmp_path / "x.log")
        sink.close()
        raise_exceptions, logging.raiseExceptions = logging.raiseExceptions, False
        try:
            sink.handle(_record("after close"))
        finally:
            logging.raiseExceptions = raise_exceptions
        assert sink.written == 0


class TestSlowSink:
    def test_spends_the_configured_time_per_record(self) -> None:
        """Every record costs one sleep of MS/1000 seconds (sleep injected, no waiting)."""
        sleeps: list[float] = []
        sink = SlowSink(5, sleep=sleeps.append)
        sink.handle(_record("a"))
        sink.handle(_record("b"))
        assert sleeps == [0.005, 0.005]
        assert sink.written == 2

    def test_rejects_negative_time(self) -> None:
        """A negative delay is a ValueError with expected-versus-actual wording."""
        with pytest.raises(ValueError, match="ms must be >= 0, but got -1"):
            SlowSink(-1)


class TestParsing:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("file", SinkSpec("file", "file")),
            ("fsync", SinkSpec("fsync", "fsync")),
            ("slow:5", SinkSpec("slow:5", "slow", 5.0)),
            ("slow:0.5", SinkSpec("slow:0.5", "slow", 0.5)),  # fractions of a millisecond
            (" slow:12 ", SinkSpec("slow:12", "slow", 12.0)),  # spaces around list items
        ],
    )
    def test_parses_each_sink_kind(self, text: str, expected: SinkSpec) -> None:
        """file, fsync and slow:MS parse into their specs."""
        assert parse_sink(text) == expected

    @pytest.mark.parametrize("text", ["slow:x", "slow:", "slow:-1", "disk", "", "FILE"])
    def test_rejects_unknown_sinks(self, text: str) -> None:
        """Anything else is a ValueError that names the accepted forms and the input."""
        with pytest.raises(ValueError, match=r"sink must be file, fsync or slow:MS .*but got"):
            parse_sink(text)

    def test_parses_a_list_in_order(self) -> None:
        """--sink takes a comma-separated list, kept in the given order."""
        assert [spec.label for spec in parse_sinks("slow:5,file,fsync")] == [
            "slow:5",
            "file",
            "fsync",
        ]

    def test_rejects_duplicates(self) -> None:
        """Measuring the same sink twice is a mistake, reported as such."""
        with pytest.raises(ValueError, match="sinks must be distinct"):
            parse_sinks("file,slow:5,file")


class TestCreate:
    def test_file_sinks_get_a_fresh_file_each_time(self, tmp_path: Path) -> None:
        """Each run writes a new file in the run's directory; runs never share a file."""
        spec = parse_sink("fsync")
        first, second = spec.create(tmp_path), spec.create(tmp_path)
        try:
            assert isinstance(first, FsyncSink)
            assert isinstance(second, FsyncSink)
            assert first.path != second.path
            assert first.path.parent == tmp_path
        finally:
            first.close()
            second.close()

    def test_slow_sink_carries_its_delay(self, tmp_path: Path) -> None:
        """slow:MS builds a SlowSink with MS milliseconds and touches no file."""
        sink = parse_sink("slow:3").create(tmp_path)
        assert isinstance(sink, SlowSink)
        assert sink.ms == 3.0
        assert list(tmp_path.iterdir()) == []
