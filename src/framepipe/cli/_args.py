"""What the subcommands share: exit codes, the one-line error, and argument types.

The argument types parse or raise ValueError saying what was expected; ``argparse_type`` turns
such a parser into an argparse ``type=`` whose message argparse prints as the usage error (a
plain ValueError would become "invalid <name> value"). ``add_parsed_option`` adds a flag
parsed that way, and ``add_budget_ms`` the per-frame budget both subcommands take.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import TextIO, TypeVar

__all__ = [
    "EXIT_FAILURE",
    "EXIT_OK",
    "EXIT_USAGE",
    "add_budget_ms",
    "add_parsed_option",
    "argparse_type",
    "fail",
    "non_negative_int",
    "note",
    "port_number",
    "positive_float",
    "positive_int",
    "print_out",
]

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2

T = TypeVar("T")


def fail(message: str, code: int = EXIT_FAILURE) -> int:
    """Say ``framepipe: error: <message>`` on stderr, one line, and return ``code``.

    A closed stderr is not an error of its own: the exit code still tells.
    """
    stream = sys.stderr
    if stream is not None:
        try:
            stream.write(f"framepipe: error: {message}\n")
            stream.flush()
        except (OSError, ValueError):  # ValueError: the stream object is closed
            _silence(stream)
    return code


def note(text: str) -> None:
    """Say ``framepipe: <text>`` on stderr (an address, a notice); a closed stderr is no error."""
    try:
        sys.stderr.write(f"framepipe: {text}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def print_out(text: str) -> bool:
    """Print ``text`` on stdout; False when no one reads it any more (a closed pipe or terminal).

    Then stdout is pointed at the null device, so the interpreter's own flush at exit does not
    print a second error. With no stdout at all (started with it closed) there is nothing to do.
    """
    stream = sys.stdout
    if stream is None:
        return True
    try:
        stream.write(text + "\n")
        stream.flush()
    except (OSError, ValueError):
        _silence(stream)
        return False
    return True


def _silence(stream: TextIO) -> None:
    try:
        fd = stream.fileno()
    except (OSError, ValueError):  # not a real file (a test's capture): nothing to redirect
        return
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, fd)
    finally:
        os.close(null)


def non_negative_int(text: str) -> int:
    """A count that may be 0 (``--reconnect-attempts 0``: none)."""
    return _int_in_range(text, 0, None, "an integer >= 0")


def port_number(text: str) -> int:
    """A TCP port; 0 asks the system for a free one."""
    return _int_in_range(text, 0, 65535, "a port number from 0 to 65535")


def _int_in_range(text: str, low: int, high: int | None, expected: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = low - 1
    if value < low or (high is not None and value > high):
        raise ValueError(f"must be {expected}, but got {text!r}")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"must be a positive integer, but got {text!r}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        raise ValueError(f"must be a positive number, but got {text!r}")
    return value


def argparse_type(parse: Callable[[str], T]) -> Callable[[str], T]:
    """Wrap ``parse`` so that its ValueError message is what argparse reports."""

    def convert(text: str) -> T:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = parse.__name__
    return convert


def add_parsed_option(
    parser: argparse.ArgumentParser,
    flag: str,
    parse: Callable[[str], T],
    *,
    default: T | None,
    metavar: str,
    help: str,
) -> None:
    """Add ``flag`` whose text ``parse`` turns into the value; its ValueError is the usage error."""
    parser.add_argument(
        flag, type=argparse_type(parse), default=default, metavar=metavar, help=help
    )


def add_budget_ms(parser: argparse.ArgumentParser, *, default: float | None, help: str) -> None:
    """Add ``--budget-ms MS``: the per-frame budget in milliseconds, positive and finite."""
    add_parsed_option(
        parser, "--budget-ms", positive_float, default=default, metavar="MS", help=help
    )
