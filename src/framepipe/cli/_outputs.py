"""Where ``framepipe run`` writes, checked before anything opens: video, summary and log, and
the window ``--display`` needs."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from framepipe._paths import OutputPath, check_outputs
from framepipe.pipeline.display import DisplayUnavailable, check_display
from framepipe.pipeline.output import check_output_path
from framepipe.pipeline.sources import parse_source
from framepipe.streams.api import stream_output
from framepipe.streams.names import stream_names

__all__ = ["check_run_outputs", "display_unavailable", "single_output"]


def single_output(args: argparse.Namespace) -> str | None:
    """``--output`` of a run with one source: ``{stream}`` in it becomes the stream's name, the
    one several streams would give that source (``--name``, else the default), as they do.

    Without ``{stream}`` the path is taken as given. ValueError for a bad ``--name``;
    SourceError when the source does not parse.
    """
    output: str | None = args.output
    if output is None or "{stream}" not in output:
        return output
    (name,) = stream_names([args.source], args.name)
    return stream_output(output, name)


def check_run_outputs(
    args: argparse.Namespace, sources: Sequence[str | None], names: Sequence[str] | None
) -> None:
    """Every output: usable, not a source, distinct. ValueError (a ``PathError``) if not.

    ``names`` are the streams' names when there are several; each then gets its own ``--output``.
    With one source, ``{stream}`` in ``--output`` is its name (``single_output``).
    """
    outputs = []
    output = single_output(args) if names is None else args.output
    if output is not None:
        videos = (
            [("--output", output)]
            if names is None
            else [(f"--output ({name})", stream_output(output, name)) for name in names]
        )
        for flag, path in videos:
            check_output_path(path)
            outputs.append(OutputPath(flag, path, "video"))
    if args.summary_json is not None:
        outputs.append(OutputPath("--summary-json", args.summary_json))
    outputs.append(OutputPath("--log-dir", args.log_dir, "dir"))
    files: list[str | None] = [
        str(spec.target) for spec in map(parse_source, sources) if spec.kind == "file"
    ]
    for source in files or [None]:
        check_outputs(outputs, source)


def display_unavailable(args: argparse.Namespace) -> str | None:
    """Why ``--display`` cannot show a window here (no screen); None when it can or is off."""
    if not args.display:
        return None
    try:
        check_display()
    except DisplayUnavailable as exc:
        return str(exc)
    return None
