"""A results writer shared by several streams: one stream's part ends (``release``) while the
others write on; its counts are final then, and its lines queued after are never written."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from framepipe.pipeline.results import ResultsLine, ResultsWriter
from helpers import wait_until


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_pending_counts_what_the_writer_has_not_taken_yet(tmp_path: Path) -> None:
    held, go = threading.Event(), threading.Event()

    def hold(line: ResultsLine) -> None:
        held.set()
        go.wait(30)

    writer = ResultsWriter(tmp_path / "r.jsonl", on_results=hold)
    try:
        writer.submit("door", 0, 0.0, 0)
        assert held.wait(30)
        for frame in range(1, 4):
            writer.submit("door", frame, 0.0, frame)
        assert writer.stats_of("door").pending == 3
        assert writer.stats().pending == 3
    finally:
        go.set()
    wait_until(lambda: writer.stats_of("door").pending == 0, "the writer to take every line")
    stats = writer.close()
    assert (stats.written, stats.dropped, stats.errors, stats.pending) == (4, 0, 0, 0)


def test_a_settled_release_is_every_line_and_a_later_stream_of_the_name_counts_afresh(
    tmp_path: Path,
) -> None:
    path = tmp_path / "r.jsonl"
    writer = ResultsWriter(path)
    for frame in range(5):
        writer.submit("door", frame, 0.0, frame)
        writer.submit("yard", frame, 0.0, frame)
    wait_until(lambda: writer.stats().pending == 0, "the writer to take every line")
    door = writer.release("door")
    assert (door.written, door.dropped, door.errors, door.pending) == (5, 0, 0, 0)
    assert writer.stats_of("door") == writer.stats_of("nobody")  # forgotten
    writer.submit("door", 100, 0.0, 100)  # a new stream of the name
    writer.close()
    assert (writer.stats_of("door").written, writer.stats_of("yard").written) == (1, 5)
    assert writer.stats().written == 11
    frames = [(line["stream"], line["frame"]) for line in _lines(path)]
    assert frames.count(("door", 100)) == 1 and len(frames) == 11


def test_a_release_before_the_file_took_the_lines_drops_and_counts_them_never_writing_them(
    tmp_path: Path,
) -> None:
    """The writer is held on yard's line (its callback); door's lines queued behind it are
    dropped by the release, counted in door's final counts, and never reach the file, while
    yard's queued after them are written; door again, afterwards, is written and counted."""
    path = tmp_path / "r.jsonl"
    held, go = threading.Event(), threading.Event()

    def hold(line: ResultsLine) -> None:
        if line.frame == -1:
            held.set()
            go.wait(30)

    writer = ResultsWriter(path, on_results=hold)
    try:
        writer.submit("yard", -1, 0.0, "hold")
        assert held.wait(30)
        for frame in range(3):
            writer.submit("door", frame, 0.0, frame)
        writer.submit("yard", 0, 0.0, 0)
        final = writer.release("door")
        writer.submit("door", 7, 0.0, 7)  # a new stream of the name, after the release
    finally:
        go.set()
    assert (final.written, final.dropped, final.errors) == (0, 3, 0)
    stats = writer.close()
    assert (stats.written, stats.dropped, stats.errors, stats.pending) == (3, 3, 0, 0)
    assert writer.stats_of("door").written == 1 and writer.stats_of("door").dropped == 0
    assert [(line["stream"], line["frame"]) for line in _lines(path)] == [
        ("yard", -1), ("yard", 0), ("door", 7)
    ]  # fmt: skip


def test_a_release_while_the_stream_s_line_is_stuck_in_its_write_counts_it_once(
    tmp_path: Path,
) -> None:
    """A write that does not return (a FIFO nobody reads, a hung mount) holds door's line: the
    release counts it as dropped, and the write, when it returns at last, does not count it
    again."""
    fifo = tmp_path / "results.fifo"
    os.mkfifo(fifo)
    writer = ResultsWriter(fifo)
    writer.submit("door", 0, 0.0, 0)
    writer.submit("door", 1, 0.0, 1)
    wait_until(lambda: writer._in_hand is not None, "the writer to be stuck opening the FIFO")
    final = writer.release("door")
    assert (final.written, final.dropped) == (0, 2)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # the stuck open goes through now
    try:
        writer.close(timeout=10)
        stats = writer.stats()
        assert (stats.written, stats.dropped, stats.errors, stats.pending) == (0, 2, 0, 0)
        assert writer.stats_of("door") == writer.stats_of("nobody")
    finally:
        os.close(reader)
