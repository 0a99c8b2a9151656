"""Tests for framepipe._paths: the checks on output paths made before anything is written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from framepipe._paths import OutputPath, PathError, check_outputs, free_bytes, same_file
from mounts import read_only_dir, tmpfs


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"the user's only copy")
    return path


class TestSameFile:
    def test_a_symlink_a_hard_link_and_another_spelling_are_the_same_file(
        self, tmp_path: Path, source: Path, monkeypatch: pytest.MonkeyPatch
    ):
        """Device and inode decide, so links and relative spellings are caught."""
        (tmp_path / "soft.mp4").symlink_to(source)
        os.link(source, tmp_path / "hard.mp4")
        monkeypatch.chdir(tmp_path)
        for other in ("soft.mp4", "hard.mp4", "./clip.mp4", str(source)):
            assert same_file(other, str(source)), other

    def test_a_copy_is_another_file(self, tmp_path: Path, source: Path):
        """Same bytes, another inode: not the same file."""
        copy = tmp_path / "copy.mp4"
        copy.write_bytes(source.read_bytes())
        assert not same_file(str(copy), str(source))

    def test_paths_not_created_yet_compare_by_resolved_path(self, tmp_path: Path):
        """Two outputs that do not exist yet are the same when they resolve alike."""
        (tmp_path / "d").mkdir()
        (tmp_path / "link").symlink_to(tmp_path / "d")
        assert same_file(str(tmp_path / "link" / "out.json"), str(tmp_path / "d" / "out.json"))
        assert not same_file(str(tmp_path / "a.json"), str(tmp_path / "b.json"))


class TestCheckOutputs:
    @pytest.mark.parametrize("link", ["same", "symlink", "hardlink"])
    def test_an_output_that_is_the_source_is_refused_and_the_source_kept(
        self, tmp_path: Path, source: Path, link: str
    ):
        """The source itself, a symlink to it or a hard link to it: PathError, bytes intact."""
        target = source
        if link == "symlink":
            target = tmp_path / "alias.mp4"
            target.symlink_to(source)
        elif link == "hardlink":
            target = tmp_path / "alias.mp4"
            os.link(source, target)
        with pytest.raises(PathError, match=r"is the source file .*would destroy the input"):
            check_outputs([OutputPath("--output", str(target), "video")], str(source))
        assert source.read_bytes() == b"the user's only copy"

    def test_a_log_directory_that_is_the_source_is_refused(self, source: Path):
        """The log directory is an output too."""
        with pytest.raises(PathError, match=r"--log-dir .* is the source file"):
            check_outputs([OutputPath("--log-dir", str(source), "dir")], str(source))

    def test_two_outputs_that_are_one_file_are_refused(self, tmp_path: Path):
        """--output and --summary-json naming one file would overwrite each other."""
        out = str(tmp_path / "x.mp4")
        with pytest.raises(PathError, match="--output and --summary-json are the same file"):
            check_outputs([OutputPath("--output", out, "video"), OutputPath("--summary-json", out)])

    @pytest.mark.parametrize(
        ("name", "message"),
        [
            ("a" * 300 + ".json", "--json name is too long for the file system"),
            ("missing/out.json", "--json directory must exist, but .*missing does not"),
            (".", "--json must be a file, but .* is a directory"),
        ],
        ids=["too-long", "no-directory", "a-directory"],
    )
    def test_names_the_system_cannot_write_are_refused_in_one_line(
        self, tmp_path: Path, name: str, message: str
    ):
        """A 300-character name, a missing directory, a directory: one line, no OSError."""
        with pytest.raises(PathError, match=message) as caught:
            check_outputs([OutputPath("--json", str(tmp_path / name))])
        assert "\n" not in str(caught.value)

    def test_a_name_that_is_not_utf8_is_refused_and_shown_as_bytes(self, tmp_path: Path):
        """OpenCV crashes on such names, so they are refused up front."""
        name = os.fsdecode(os.fsencode(str(tmp_path)) + b"/clip\xff.mp4")
        with pytest.raises(
            PathError, match=r"must be a valid UTF-8 file name, but got b'.*clip\\xff"
        ):
            check_outputs([OutputPath("--output", name, "video")])

    def test_a_read_only_directory_is_permission_denied(self, tmp_path: Path):
        """Writability is checked up front, also where root ignores file modes."""
        with read_only_dir(tmp_path / "ro") as directory:
            for kind in ("file", "video", "dir"):
                path = str(directory / "sub" if kind == "dir" else directory / "out.mp4")
                with pytest.raises(PathError, match=r"^permission denied: --x .* not writable"):
                    check_outputs([OutputPath("--x", path, kind)])  # type: ignore[arg-type]

    def test_a_directory_that_refuses_new_files_despite_its_mode_is_refused(self, tmp_path: Path):
        """sysfs looks writable to root (os.access says yes) but creates no files: a real
        create-and-remove probe finds out before the run, and leaves nothing behind."""
        if not os.path.isdir("/sys") or not os.access("/sys", os.W_OK):
            pytest.skip("needs /sys writable by mode, as it is for root")
        with pytest.raises(PathError, match=r"^permission denied: cannot write --json /sys/"):
            check_outputs([OutputPath("--json", "/sys/framepipe-probe.json")])
        check_outputs([OutputPath("--json", str(tmp_path / "r.json"))])
        assert list(tmp_path.iterdir()) == []

    def test_dev_full_is_refused_before_the_run_and_dev_null_accepted(self):
        """A device that refuses writes fails a zero-byte probe; one that accepts passes."""
        with pytest.raises(PathError, match="cannot write --json /dev/full: No space left"):
            check_outputs([OutputPath("--json", "/dev/full")])
        check_outputs([OutputPath("--json", os.devnull)])

    def test_a_video_must_be_a_regular_file(self, tmp_path: Path):
        """A muxer seeks back to finish a file, so a video cannot go to a device."""
        link = tmp_path / "out.mp4"
        link.symlink_to(os.devnull)
        with pytest.raises(PathError, match=r"--output must be a regular file, but .* a device"):
            check_outputs([OutputPath("--output", str(link), "video")])

    def test_a_log_directory_below_a_file_is_refused(self, source: Path):
        """The directory to create must have a directory as its nearest existing ancestor."""
        with pytest.raises(PathError, match=r"--log-dir must be a directory, but .*clip.mp4 is"):
            check_outputs([OutputPath("--log-dir", str(source / "logs"), "dir")])

    def test_usable_outputs_pass(self, tmp_path: Path, source: Path):
        """A new file, an existing file to replace and a directory to create are fine."""
        existing = tmp_path / "old.json"
        existing.write_text("{}")
        check_outputs(
            [
                OutputPath("--output", str(tmp_path / "out.mp4"), "video"),
                OutputPath("--summary-json", str(existing)),
                OutputPath("--log-dir", str(tmp_path / "logs" / "deeper"), "dir"),
            ],
            str(source),
        )


def test_free_bytes_sees_a_small_file_system_fill_up(tmp_path: Path):
    """free_bytes reports what is left on the file system holding the directory."""
    with tmpfs(tmp_path / "small", "200k") as small:
        before = free_bytes(small)
        assert 0 < before <= 200 * 1024
        (small / "filler").write_bytes(b"x" * 100_000)
        assert free_bytes(small) <= before - 100_000
