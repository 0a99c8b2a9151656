"""Tests for framepipe.cli._finish: the summary file first, then the terminal, then the problems."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from framepipe.cli._finish import finish, write_summary


class FakeSummary:
    """A summary as the commands hand it over: plain values and a line of text."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values

    def to_dict(self) -> dict[str, Any]:
        return self.values

    def to_text(self) -> str:
        return f"frames {self.values.get('frames')}"


def test_a_clean_end_writes_the_json_prints_the_text_and_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nothing went wrong: the file holds the values, stdout the text, stderr nothing."""
    path = tmp_path / "summary.json"
    assert finish(FakeSummary({"frames": 3}), str(path)) == 0
    assert json.loads(path.read_text()) == {"frames": 3}
    out, err = capsys.readouterr()
    assert (out, err) == ("frames 3\n", "")


def test_problems_and_the_verdict_make_one_error_line_after_the_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What failed before and what the summary says went wrong: one line, in that order,
    exit 1; the summary is still written and printed."""
    path = tmp_path / "summary.json"
    code = finish(FakeSummary({"frames": 1}), str(path), ["source dropped"], ["1 of 2 failed"])
    assert code == 1
    assert path.exists()
    out, err = capsys.readouterr()
    assert out == "frames 1\n"
    assert err == "framepipe: error: source dropped; 1 of 2 failed\n"


def test_without_a_summary_only_the_problems_are_said(capsys: pytest.CaptureFixture[str]) -> None:
    """A run that never produced a summary prints nothing on stdout."""
    assert finish(None, None, ["cannot open x.mp4"]) == 1
    assert capsys.readouterr() == ("", "framepipe: error: cannot open x.mp4\n")


def test_the_json_is_written_even_when_stdout_is_gone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A reader gone from stdout (``| head``) costs the printout, not the file: exit 1 and why."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    with open(write_end, "w") as broken:
        monkeypatch.setattr(sys, "stdout", broken)
        path = tmp_path / "summary.json"
        code = finish(FakeSummary({"frames": 2}), str(path))
        monkeypatch.undo()
    assert code == 1
    assert json.loads(path.read_text()) == {"frames": 2}
    assert "stdout is closed" in capsys.readouterr().err


def test_values_json_cannot_hold_are_a_problem_not_a_traceback(tmp_path: Path) -> None:
    """NaN is not JSON: strict writing refuses it and says so for the flag."""
    problems = write_summary(FakeSummary({"fps": float("nan")}), tmp_path / "s.json")
    assert len(problems) == 1 and problems[0].startswith("cannot write --summary-json")


def test_an_unwritable_file_is_a_problem(tmp_path: Path) -> None:
    """A directory where the file should go: the OS error's words, for the flag."""
    problems = write_summary(FakeSummary({}), tmp_path)
    assert len(problems) == 1 and "cannot write --summary-json" in problems[0]
