"""Shared CLI pieces: positive-number argument types, with argparse reporting our message."""

from __future__ import annotations

import argparse
import os
import re
import sys
from typing import Any

import pytest

from framepipe.cli._args import (
    add_budget_ms,
    add_parsed_option,
    argparse_type,
    config_from_args,
    non_negative_int,
    port_number,
    positive_cpus,
    positive_float,
    positive_int,
)


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
    from framepipe.cli._console import EXIT_USAGE, fail

    assert fail("no such file: x.mp4", EXIT_USAGE) == 2
    assert capsys.readouterr().err == "framepipe: error: no such file: x.mp4\n"


def test_fail_survives_a_closed_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    """With stderr gone (a dropped terminal) fail() still returns the exit code."""
    from framepipe.cli._console import EXIT_FAILURE, fail

    read_end, write_end = os.pipe()
    os.close(read_end)
    with open(write_end, "w") as broken:
        monkeypatch.setattr(sys, "stderr", broken)
        assert fail("disk full") == EXIT_FAILURE
        monkeypatch.setattr(sys, "stderr", None)
        assert fail("disk full") == EXIT_FAILURE


def test_print_out_reports_a_reader_that_went_away(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pipe whose reader exited (``| head``): the problem instead of BrokenPipeError, and the
    stream is pointed at the null device so a later flush is quiet."""
    from framepipe.cli._console import print_out

    read_end, write_end = os.pipe()
    os.close(read_end)
    with open(write_end, "w") as broken:
        monkeypatch.setattr(sys, "stdout", broken)
        assert print_out("summary", "the summary") == (
            "cannot print the summary: stdout is closed (broken pipe)"
        )
        broken.write("more")
        broken.flush()  # no BrokenPipeError: the descriptor now leads to the null device
    monkeypatch.undo()
    assert print_out("summary", "the summary") is None


def test_print_out_reports_a_process_started_without_stdout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Started with descriptor 1 closed (``>&-``), Python has no ``sys.stdout``: the text is
    not printed, and that is a problem like a broken pipe."""
    from framepipe.cli._console import print_out

    monkeypatch.setattr(sys, "stdout", None)
    assert print_out("report", "the report") == "cannot print the report: stdout is closed"


class TestAddParsedOption:
    def test_the_value_is_what_the_parser_returns(self) -> None:
        """The flag's text goes through the parser; absent, the default stands."""
        parser = argparse.ArgumentParser()
        add_parsed_option(parser, "--frames", positive_int, default=300, metavar="N", help="n")
        assert parser.parse_args(["--frames", "12"]).frames == 12
        assert parser.parse_args([]).frames == 300

    def test_a_refused_value_is_a_usage_error_with_the_parsers_message(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Exit 2 and argparse's one usage line carrying the parser's own words."""
        parser = argparse.ArgumentParser(prog="framepipe bench")
        add_parsed_option(parser, "--repeat", positive_int, default=5, metavar="R", help="r")
        with pytest.raises(SystemExit) as exited:
            parser.parse_args(["--repeat", "0"])
        assert exited.value.code == 2
        err = capsys.readouterr().err
        assert "argument --repeat: must be a positive integer, but got '0'" in err

    def test_help_shows_the_metavar_and_the_text(self) -> None:
        """--help lists the flag with its metavar and help text."""
        parser = argparse.ArgumentParser()
        add_parsed_option(parser, "--repeat", positive_int, default=5, metavar="R", help="runs")
        assert re.search(r"--repeat R\s+runs", parser.format_help())

    def test_the_budget_flag_takes_positive_milliseconds(self) -> None:
        """--budget-ms MS: a positive, finite number; anything else is a usage error."""
        parser = argparse.ArgumentParser()
        add_budget_ms(parser, default=None, help="per-frame budget")
        assert parser.parse_args(["--budget-ms", "20.5"]).budget_ms == 20.5
        assert parser.parse_args([]).budget_ms is None
        assert "--budget-ms MS" in parser.format_help()
        with pytest.raises(SystemExit):
            parser.parse_args(["--budget-ms", "inf"])


@pytest.mark.parametrize(
    ("parse", "text", "value"),
    [(non_negative_int, "0", 0), (non_negative_int, "7", 7), (port_number, "0", 0),
     (port_number, "5000", 5000), (port_number, "65535", 65535)],
)  # fmt: skip
def test_counts_and_ports_accept_their_range(parse: Any, text: str, value: int) -> None:
    """0 is a count (none) and a port (any free one); 65535 is the last port."""
    assert parse(text) == value


@pytest.mark.parametrize(
    ("parse", "text", "expected"),
    [(non_negative_int, "-1", "an integer >= 0"), (non_negative_int, "x", "an integer >= 0"),
     (port_number, "65536", "a port number from 0 to 65535"),
     (port_number, "-1", "a port number from 0 to 65535"),
     (port_number, "http", "a port number from 0 to 65535")],
)  # fmt: skip
def test_counts_and_ports_refuse_the_rest_saying_what_was_expected(
    parse: Any, text: str, expected: str
) -> None:
    """Out of range or not a number: 'must be <expected>, but got <text>'."""
    with pytest.raises(ValueError, match=f"must be {expected}, but got '{text}'"):
        parse(text)


@pytest.mark.parametrize("text", ["0", "-1", "inf", "nan", "two"])
def test_positive_cpus_refuses_what_is_not_a_positive_finite_number(text: str) -> None:
    """A share of CPUs is a positive, finite number; fractions are fine."""
    with pytest.raises(ValueError, match="must be a positive number of CPUs"):
        positive_cpus(text)
    assert positive_cpus("0.5") == 0.5


def test_config_from_args_takes_every_field_that_has_a_flag() -> None:
    """Each ``PipelineConfig`` field comes from the flag of its name; the others keep their
    defaults, and attributes that are no field are left alone."""
    from framepipe.pipeline import PipelineConfig

    args = argparse.Namespace(budget_ms=20.0, log_every=5, on_error="skip", quiet=True)
    config = config_from_args(args)
    assert (config.budget_ms, config.log_every, config.on_error) == (20.0, 5, "skip")
    assert config.max_frames == PipelineConfig().max_frames


def test_config_from_args_reports_values_that_do_not_go_together() -> None:
    """The config's own check is a ValueError naming the field."""
    with pytest.raises(ValueError, match="log_every"):
        config_from_args(argparse.Namespace(log_every=0))
