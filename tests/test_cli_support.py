"""Shared CLI pieces: positive-number argument types, with argparse reporting our message."""

from __future__ import annotations

import argparse
import os
import sys

import pytest

from framepipe._cli_support import argparse_type, positive_float, positive_int


@pytest.mark.parametrize(("text", "value"), [("1", 1), ("30", 30)])
def test_positive_int_accepts_whole_numbers_from_one(text: str, value: int) -> None:
    """Digits of a whole number >= 1 parse to that int."""
    assert positive_int(text) == value


@pytest.mark.parametrize("text", ["0", "-3", "2.5", "ten", ""])
def test_positive_int_refuses_anything_else(text: str) -> None:
    """Zero, negatives, fractions and words raise ValueError naming the input."""
    with pytest.raises(ValueError, match=f"must be a positive integer, but got {text!r}"):
        positive_int(text)


@pytest.mark.parametrize("text", ["0", "-1", "inf", "nan", "fast"])
def test_positive_float_refuses_non_positive_and_non_finite(text: str) -> None:
    """Only finite numbers above zero are budgets."""
    with pytest.raises(ValueError, match="must be a positive number"):
        positive_float(text)
    assert positive_float("33.3") == pytest.approx(33.3)


def test_argparse_reports_the_parsers_message(capsys: pytest.CaptureFixture[str]) -> None:
    """argparse prints our expected-versus-actual message, not 'invalid value'."""
    parser = argparse.ArgumentParser(prog="p")
    parser.add_argument("--n", type=argparse_type(positive_int))
    with pytest.raises(SystemExit):
        parser.parse_args(["--n", "0"])
    assert "argument --n: must be a positive integer, but got '0'" in capsys.readouterr().err


def test_fail_writes_one_error_line_and_returns_the_code(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """fail() is the subcommands' single way to report a user error."""
    from framepipe._cli_support import EXIT_USAGE, fail

    assert fail("no such file: x.mp4", EXIT_USAGE) == 2
    assert capsys.readouterr().err == "framepipe: error: no such file: x.mp4\n"


def test_fail_survives_a_closed_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    """With stderr gone (a dropped terminal) fail() still returns the exit code."""
    from framepipe._cli_support import EXIT_FAILURE, fail

    read_end, write_end = os.pipe()
    os.close(read_end)
    with open(write_end, "w") as broken:
        monkeypatch.setattr(sys, "stderr", broken)
        assert fail("disk full") == EXIT_FAILURE
        monkeypatch.setattr(sys, "stderr", None)
        assert fail("disk full") == EXIT_FAILURE


def test_print_out_reports_a_reader_that_went_away(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pipe whose reader exited (``| head``): False instead of BrokenPipeError, and the
    stream is pointed at the null device so a later flush is quiet."""
    from framepipe._cli_support import print_out

    read_end, write_end = os.pipe()
    os.close(read_end)
    with open(write_end, "w") as broken:
        monkeypatch.setattr(sys, "stdout", broken)
        assert print_out("summary") is False
        broken.write("more")
        broken.flush()  # no BrokenPipeError: the descriptor now leads to the null device
    monkeypatch.undo()
    assert print_out("summary") is True
