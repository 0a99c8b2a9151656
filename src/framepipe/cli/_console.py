"""What the commands say: exit codes, the one-line error, notices, and output that survives a
closed stdout or stderr."""

from __future__ import annotations

import os
import sys
from typing import TextIO

__all__ = ["EXIT_FAILURE", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "fail", "note", "print_out"]

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 130  # the shell's 128 + SIGINT


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


def print_out(text: str, what: str) -> str | None:
    """Print ``text`` on stdout; None when printed, else the problem, naming ``what`` was not
    printed (``"cannot print the summary: stdout is closed"``).

    A closed pipe or terminal (no one reads any more) points stdout at the null device, so the
    interpreter's own flush at exit does not print a second error. A process started with no
    stdout at all (``>&-``: Python's ``sys.stdout`` is None) cannot print either.
    """
    stream = sys.stdout
    if stream is None:
        return f"cannot print {what}: stdout is closed"
    try:
        stream.write(text + "\n")
        stream.flush()
    except (OSError, ValueError):
        _silence(stream)
        return f"cannot print {what}: stdout is closed (broken pipe)"
    return None


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
