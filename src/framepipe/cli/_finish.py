"""The end of a command: the summary file first, then the terminal, then the problems.

A closed stdout (``| head``, a dropped terminal) must not cost the JSON, so the file is written
before anything is printed; every problem met on the way ends up in one error line.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from framepipe.cli._console import EXIT_OK, fail, print_out

__all__ = ["Summary", "finish", "write_summary"]


class Summary(Protocol):
    """A run's summary: plain JSON values and a short text for the terminal."""

    def to_dict(self) -> dict[str, Any]: ...

    def to_text(self) -> str: ...


def finish(
    summary: Summary | None,
    summary_json: str | None,
    problems: Sequence[str] = (),
    verdict: Sequence[str] = (),
) -> int:
    """Write ``summary_json``, print the summary, and return the exit code.

    ``problems`` happened before (a failed run); ``verdict`` is what the summary itself says went
    wrong (failed streams, a truncated file). Any of them: one error line and exit 1.
    """
    found = list(problems)
    if summary is not None:
        if summary_json is not None:
            found += write_summary(summary, Path(summary_json))
        problem = print_out(summary.to_text(), "the summary")
        if problem is not None:
            found.append(problem)
    found += verdict
    return fail("; ".join(found)) if found else EXIT_OK


def write_summary(summary: Summary, path: Path) -> list[str]:
    """Write the summary JSON (strict: no NaN or Infinity); the problem, if any, as a list."""
    try:
        path.write_text(json.dumps(summary.to_dict(), indent=2, allow_nan=False) + "\n")
    except OSError as exc:
        return [f"cannot write --summary-json {path}: {exc.strerror or exc}"]
    except ValueError as exc:  # a value JSON cannot represent
        return [f"cannot write --summary-json {path}: {exc}"]
    return []
