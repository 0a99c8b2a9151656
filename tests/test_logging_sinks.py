"""BatchRotatingFileHandler and the default file name."""

from __future__ import annotations

import logging
import time

from framepipe.logging._sinks import BatchRotatingFileHandler, default_log_path


def records(n: int, text: str = "x" * 50) -> list[logging.LogRecord]:
    return [
        logging.LogRecord("t", logging.INFO, __file__, 1, "%d %s", (i, text), None)
        for i in range(n)
    ]


def test_a_batch_is_written_with_one_write(tmp_path, monkeypatch) -> None:
    """emit_batch formats every record and writes them in a single call."""
    handler = BatchRotatingFileHandler(tmp_path / "a.txt", maxBytes=0)
    writes: list[str] = []
    real_write = handler.stream.write
    monkeypatch.setattr(handler.stream, "write", lambda s: writes.append(s) or real_write(s))
    handler.emit_batch(records(100))
    handler.close()
    assert len(writes) == 1
    assert (tmp_path / "a.txt").read_text().count("\n") == 100


def test_rotation_keeps_each_file_under_max_bytes_and_backup_count_files(tmp_path) -> None:
    """Rotation happens between records: no file exceeds maxBytes, at most backupCount backups."""
    path = tmp_path / "r.txt"
    handler = BatchRotatingFileHandler(path, maxBytes=2_000, backupCount=3)
    for _ in range(10):
        handler.emit_batch(records(30))
    handler.close()
    files = sorted(tmp_path.iterdir())
    assert [f.name for f in files] == ["r.txt", "r.txt.1", "r.txt.2", "r.txt.3"]
    assert all(f.stat().st_size <= 2_000 for f in files)
    for f in files:  # no record is split across files
        assert all(line.startswith(tuple("0123456789")) for line in f.read_text().splitlines())


def test_default_log_path_is_named_after_local_time(tmp_path) -> None:
    """logs_YYYYmmdd_HHMMSS.txt in the log directory."""
    when = time.mktime((2026, 11, 29, 14, 5, 9, 0, 0, -1))
    assert default_log_path(tmp_path, when) == str(tmp_path / "logs_20261129_140509.txt")
