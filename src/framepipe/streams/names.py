"""Stream names: what a stream is called in progress lines, the summary, logs and file names.

A name given with ``--name`` (or ``names=``) wins; otherwise a file is named by its stem, a camera
``cam<index>``, a URL by its host and the generated scene ``synthetic``. Names end up in file names
(per-stream outputs and logs), so they are limited to ASCII letters, digits, ``.``, ``_`` and
``-``; a default made of anything else has those characters replaced by ``_``. Duplicates get a
numbered suffix (``clip``, ``clip-2``) that never clashes with another name.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from framepipe.pipeline.sources import parse_source
from framepipe.pipeline.stream_settings import check_stream_name

__all__ = ["check_name", "default_name", "stream_names"]

_UNSAFE_CHAR = re.compile(r"[^A-Za-z0-9._-]")


def check_name(name: str) -> str:
    """Return ``name`` when it can name a stream (and a file); ValueError says what it must be
    (the rule a config file's and a request's stream names follow too)."""
    return check_stream_name(name)


def default_name(source: str | int | None) -> str:
    """The name a stream gets when none is given (SourceError when the source does not parse)."""
    spec = parse_source(source)
    if spec.kind == "camera":
        return f"cam{spec.target}"
    if spec.kind == "synthetic":
        return "synthetic"
    if spec.kind == "stream":
        raw = urlsplit(str(spec.target)).hostname or "stream"
    else:
        raw = Path(str(spec.target)).stem or "file"
    safe = _UNSAFE_CHAR.sub("_", raw)
    return "stream" if safe in (".", "..") else safe


def stream_names(
    sources: Sequence[str | int | None], names: Sequence[str | None] | None = None
) -> list[str]:
    """One unique name per source: ``names[i]`` when given (not None), else the default."""
    given = list(names or [])
    if len(given) > len(sources):
        raise ValueError(
            f"{len(given)} names for {len(sources)} sources: give at most one name per source"
        )
    given += [None] * (len(sources) - len(given))
    wanted = [
        check_name(name) if name is not None else default_name(source)
        for source, name in zip(sources, given, strict=True)
    ]
    reserved = set(wanted)  # a suffix never takes a name another source asked for
    taken: set[str] = set()
    unique: list[str] = []
    for name in wanted:
        candidate, number = name, 1
        while candidate in taken or (candidate != name and candidate in reserved):
            number += 1
            candidate = f"{name}-{number}"
        taken.add(candidate)
        unique.append(candidate)
    return unique
