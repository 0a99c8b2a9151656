"""Tests for framepipe.cli._service_streams: each stream's settings and origin, shared by the
API and a config reload."""

from __future__ import annotations

import threading

import pytest

from framepipe.cli._service_streams import ServiceStreams, StreamConflict, StreamEntry
from framepipe.pipeline.stream_settings import StreamSettings, stream_settings


def made(name: str, **keys: object) -> StreamSettings:
    return stream_settings({"name": name, "source": "synthetic", **keys})


class TestRecording:
    def test_the_files_streams_in_order(self):
        streams = ServiceStreams.from_file([made("b"), made("a")])
        assert streams.names() == ("b", "a") and streams.names("api") == ()
        entry = streams.get("a")
        assert entry is not None and entry.origin == "file" and entry.name == "a"

    def test_a_claim_of_a_name_taken_is_a_conflict(self):
        streams = ServiceStreams.from_file([made("a")])
        with pytest.raises(StreamConflict, match="a stream named 'a' is in the service already"):
            streams.claim(StreamEntry(made("a"), "api"))
        assert streams.get("a").origin == "file"  # unchanged

    def test_a_claim_of_an_output_written_is_a_conflict(self, tmp_path):
        path = str(tmp_path / "x.mkv")
        streams = ServiceStreams([StreamEntry(made("a", output=path), "file")])
        with pytest.raises(StreamConflict, match=r"output .*x.mkv is written by stream 'a'"):
            streams.claim(StreamEntry(made("b", output=path), "api"))
        streams.claim(StreamEntry(made("c", output=str(tmp_path / "y.mkv")), "api"))
        streams.claim(StreamEntry(made("d", results=str(tmp_path / "r.jsonl")), "api"))
        streams.claim(StreamEntry(made("e", results=str(tmp_path / "r.jsonl")), "api"))  # shared
        assert streams.names("api") == ("c", "d", "e")

    def test_release_gives_back_only_its_own_claim(self):
        streams = ServiceStreams()
        mine = StreamEntry(made("a"), "api")
        streams.claim(mine)
        streams.record(replaced := StreamEntry(made("a", realtime=True), "file"))
        streams.release(mine)
        assert streams.get("a") is replaced
        streams.release(replaced)
        assert streams.get("a") is None and len(streams) == 0

    def test_forget_answers_what_was_there(self):
        streams = ServiceStreams.from_file([made("a")])
        forgotten = streams.forget("a")
        assert forgotten is not None and forgotten.name == "a"
        assert streams.forget("a") is None

    def test_entries_is_a_copy(self):
        streams = ServiceStreams.from_file([made("a")])
        copy = streams.entries()
        copy.clear()
        assert streams.names() == ("a",)


def test_one_claim_of_a_name_wins_among_threads():
    streams = ServiceStreams()
    start = threading.Barrier(8)
    won: list[int] = []

    def claim(index: int) -> None:
        start.wait(timeout=5)
        try:
            streams.claim(StreamEntry(made("same"), "api"))
        except StreamConflict:
            return
        won.append(index)

    threads = [threading.Thread(target=claim, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert not any(thread.is_alive() for thread in threads)
    assert len(won) == 1 and streams.names() == ("same",)
