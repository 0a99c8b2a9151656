"""Tests for framepipe.streams.names: one short, unique, file-safe name per stream."""

from __future__ import annotations

from pathlib import Path

import pytest

from framepipe.streams.names import default_name, stream_names


class TestDefaultName:
    @pytest.mark.parametrize(
        ("source", "expected"),
        [
            ("clips/front door.mp4", "front_door"),  # the file stem, made file-safe
            ("0", "cam0"),  # a camera by its index
            (3, "cam3"),
            ("rtsp://user:pw@camera.local:554/stream", "camera.local"),  # the URL's host
            ("tcp://127.0.0.1:5000", "127.0.0.1"),
            ("synthetic:64x48@30:1", "synthetic"),
            (None, "synthetic"),  # the built-in scene
        ],
    )
    def test_a_source_is_named_after_what_it_is(
        self,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        source: str | int | None,
        expected: str,
    ) -> None:
        """A file by its stem, a camera as cam<index>, a URL by its host, the scene as itself."""
        monkeypatch.chdir(tmp_path)
        (tmp_path / "clips").mkdir()
        (tmp_path / "clips" / "front door.mp4").write_bytes(b"")
        assert default_name(source) == expected


class TestStreamNames:
    def test_names_given_come_first_in_order_and_the_rest_are_defaults(self) -> None:
        """--name applies to the sources in order; sources without one get the default."""
        assert stream_names(["0", "1", "synthetic"], ["door"]) == ["door", "cam1", "synthetic"]

    def test_duplicates_get_a_numbered_suffix(self) -> None:
        """Two sources with the same name become name and name-2, never clashing with a given
        name."""
        names = stream_names(["synthetic", "synthetic", "synthetic"], [None, "synthetic-2"])
        assert names == ["synthetic", "synthetic-2", "synthetic-3"]

    def test_more_names_than_sources_is_an_error(self) -> None:
        """A --name without a source is a mistake worth saying."""
        with pytest.raises(ValueError, match="3 names for 2 sources"):
            stream_names(["0", "1"], ["a", "b", "c"])

    @pytest.mark.parametrize("name", ["", "a b", "../up", ".", "x/y", "ü" * 3 + "\n"])
    def test_a_name_that_is_not_file_safe_is_refused(self, name: str) -> None:
        """Names become parts of file names (logs, outputs): letters, digits, '.', '_', '-'."""
        with pytest.raises(ValueError, match="stream name must be"):
            stream_names(["0"], [name])

    def test_a_suffix_never_takes_a_name_another_source_asked_for(self) -> None:
        """a, a, a-2: the second a becomes a-3, since a-2 belongs to the third source."""
        assert stream_names(["0", "1", "2"], ["a", "a", "a-2"]) == ["a", "a-3", "a-2"]
