"""BatchRotatingFileHandler and the default file name."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import time

import pytest

from framepipe.logging._sinks import BatchRotatingFileHandler, BatchWriteError, default_log_path
from helpers import child_command


def lines(handler: logging.Handler, n: int, text: str = "x" * 50) -> list[str]:
    """``n`` records formatted by ``handler``, as the dispatcher hands them over."""
    return [
        handler.format(logging.LogRecord("t", logging.INFO, __file__, 1, "%d %s", (i, text), None))
        + "\n"
        for i in range(n)
    ]


@pytest.mark.parametrize("max_bytes", [0, 1_000_000])
def test_a_batch_is_written_with_one_write(tmp_path, monkeypatch, max_bytes: int) -> None:
    """write_lines writes a whole batch of lines with a single write call, rotating or not."""
    handler = BatchRotatingFileHandler(tmp_path / "a.txt", maxBytes=max_bytes)
    fd = handler.stream.fileno()
    writes: list[int] = []
    real_write = os.write

    def counting_write(to: int, data: bytes) -> int:
        writes.extend([len(data)] if to == fd else [])
        return real_write(to, data)

    monkeypatch.setattr(os, "write", counting_write)
    handler.write_lines(lines(handler, 100))
    monkeypatch.undo()
    handler.close()
    assert len(writes) == 1
    assert (tmp_path / "a.txt").read_text().count("\n") == 100


def test_rotation_keeps_each_file_under_max_bytes_and_backup_count_files(tmp_path) -> None:
    """Rotation happens between lines: no file exceeds maxBytes, at most backupCount backups."""
    path = tmp_path / "r.txt"
    handler = BatchRotatingFileHandler(path, maxBytes=2_000, backupCount=3)
    for _ in range(10):
        handler.write_lines(lines(handler, 30))
    handler.close()
    files = sorted(tmp_path.iterdir())
    assert [f.name for f in files] == ["r.txt", "r.txt.1", "r.txt.2", "r.txt.3"]
    assert all(f.stat().st_size <= 2_000 for f in files)
    for f in files:  # no line is split across files
        assert all(line.startswith(tuple("0123456789")) for line in f.read_text().splitlines())


def test_a_line_the_files_encoding_cannot_take_is_refused_on_its_own(tmp_path) -> None:
    """check_encodable refuses a lone surrogate in UTF-8 and accepts any other text."""
    handler = BatchRotatingFileHandler(tmp_path / "u.txt", encoding="utf-8")
    handler.check_encodable("naïve café ☕ 日本語 🎥\n")
    with pytest.raises(UnicodeEncodeError):
        handler.check_encodable("lone \udc80 surrogate\n")
    handler.close()


def test_emit_writes_one_record_like_any_handler(tmp_path) -> None:
    """Used as a plain logging.Handler, the sink formats and writes each record."""
    handler = BatchRotatingFileHandler(tmp_path / "e.txt")
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.Logger("plain")
    logger.addHandler(handler)
    logger.warning("one %d", 1)
    handler.close()
    assert (tmp_path / "e.txt").read_text() == "WARNING one 1\n"


def test_default_log_path_is_named_after_local_time(tmp_path) -> None:
    """logs_YYYYmmdd_HHMMSS.txt in the log directory."""
    when = time.mktime((2026, 11, 29, 14, 5, 9, 0, 0, -1))
    assert default_log_path(tmp_path, when) == str(tmp_path / "logs_20261129_140509.txt")


def test_records_counted_as_errors_never_reach_the_file_later(tmp_path) -> None:
    """On a full disk a line is written whole and counted, or counted as an error and never seen."""
    result = subprocess.run(
        child_command("log_past_a_file_size_limit", tmp_path),
        capture_output=True, text=True, timeout=60, check=True,
    )
    report = json.loads(result.stdout)
    stats, lines = report["stats"], report["lines"]
    assert stats["errors"] > 0  # the limit was hit
    assert len(lines) == stats["written"]
    assert stats["accepted"] == stats["written"] + stats["errors"] == 600
    assert all(re.fullmatch(r".* INFO     framepipe: record \d{5} y{40}", line) for line in lines)
    assert lines[-1].endswith("record 00599 " + "y" * 40)  # writing resumed when space was back


def test_a_batch_that_cannot_be_written_says_how_many_lines_reached_the_file(tmp_path) -> None:
    """write_lines on a full device raises BatchWriteError with written=0."""
    handler = BatchRotatingFileHandler("/dev/full")
    with pytest.raises(BatchWriteError) as raised:
        handler.write_lines(["a\n", "b\n"])
    assert raised.value.written == 0
    assert isinstance(raised.value.__cause__, OSError)
    handler.close()


def test_a_stream_without_a_file_descriptor_is_written_through_the_stream(tmp_path) -> None:
    """A subclass whose _open returns an in-memory stream still gets every line."""
    memory = io.StringIO()

    class MemorySink(BatchRotatingFileHandler):
        def _open(self):  # type: ignore[no-untyped-def]
            return memory

    handler = MemorySink(tmp_path / "unused.txt")
    handler.write_lines(["a\n", "b\n"])
    assert memory.getvalue() == "a\nb\n"


def test_a_file_deleted_under_the_sink_is_made_again_at_the_next_write(tmp_path) -> None:
    """Lines written to a deleted file would be lost while counting as written: the next
    batch opens the name again, so they land in a file someone can read."""
    path = tmp_path / "f.txt"
    handler = BatchRotatingFileHandler(path)
    handler.write_lines(["a\n"])
    path.unlink()
    handler.write_lines(["b\n"])
    assert path.read_text() == "b\n"
    handler.close()


def test_a_removed_directory_fails_each_batch_until_it_is_back(tmp_path) -> None:
    """With its directory gone a batch raises (nothing written); once the directory is made
    again, the next batch creates the file."""
    logs = tmp_path / "logs"
    logs.mkdir()
    handler = BatchRotatingFileHandler(logs / "f.txt")
    handler.write_lines(["a\n"])
    for child in logs.iterdir():
        child.unlink()
    logs.rmdir()
    with pytest.raises(BatchWriteError) as raised:
        handler.write_lines(["b\n"])
    assert raised.value.written == 0
    assert isinstance(raised.value.cause, FileNotFoundError)
    logs.mkdir()
    handler.write_lines(["c\n"])
    assert (logs / "f.txt").read_text() == "c\n"
    handler.close()
