"""Shared CLI pieces: positive-number argument types, with argparse reporting our message."""

from __future__ import annotations

import argparse

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
