"""What the logger says about itself on stderr: a note of one line, never an exception.

A logger never raises into its caller (not even to say that something failed), so a stderr that
is closed or broken swallows the note. Every note of the package goes through here, with the
``framepipe.logging:`` prefix that tells it apart from the application's own output.
"""

from __future__ import annotations

import sys
from typing import TextIO

__all__ = ["PREFIX", "stderr_note", "write_stderr"]

PREFIX = "framepipe.logging: "


def write_stderr(text: str, stream: TextIO | None = None) -> None:
    """Write ``text`` as it is to ``stream`` (default: ``sys.stderr`` now) and flush it."""
    try:
        target = stream if stream is not None else sys.stderr
        target.write(text)
        target.flush()
    except Exception:
        pass


def stderr_note(text: str, stream: TextIO | None = None) -> None:
    """Say ``text`` on a line of its own: ``framepipe.logging: <text>``."""
    write_stderr(f"{PREFIX}{text}\n", stream)
