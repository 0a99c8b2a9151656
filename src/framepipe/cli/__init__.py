"""The ``framepipe`` command line: ``main(argv) -> exit code``.

Subcommands live with their feature (``framepipe.pipeline.cli``, ``framepipe.bench.cli``); each
module exposes ``add_arguments(parser)`` and ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib import import_module

from framepipe._cli_support import EXIT_USAGE, fail

__all__ = ["main"]

EXIT_INTERRUPTED = 130  # the shell's 128 + SIGINT

# subcommand -> (module implementing it, one-line help)
_SUBCOMMANDS = {
    "run": ("framepipe.pipeline.cli", "process a camera, video file or stream in real time"),
    "bench": ("framepipe.bench.cli", "measure what sync and async logging cost per frame"),
}


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line: ``framepipe: error: ...``, exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise SystemExit(fail(message, EXIT_USAGE))


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser; given ``argv``, only the subcommand it names gets its options (and imports).

    Loading a subcommand imports OpenCV and numpy, so ``framepipe --version`` and
    ``framepipe --help`` list the subcommands without loading any of them. Without ``argv``
    every subcommand is loaded.
    """
    parser = _Parser(prog="framepipe", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subparsers.required = True
    chosen = _chosen_subcommand(argv)
    for name, (module_name, help_text) in _SUBCOMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        if argv is None or name == chosen:
            module = import_module(module_name)
            module.add_arguments(sub)
            sub.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit code (0 ok, 1 failure, 2 usage)."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(args_list)
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exc:  # --help, --version and usage errors
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        return int(args._run(args))
    except KeyboardInterrupt:
        # Subcommands turn Ctrl-C into a clean stop; one that reaches here cut work short.
        return fail("interrupted", EXIT_INTERRUPTED)


def _chosen_subcommand(argv: Sequence[str] | None) -> str | None:
    """The first argument that names a subcommand (top-level options all come before it)."""
    for arg in argv or ():
        if not arg.startswith("-"):
            return arg if arg in _SUBCOMMANDS else None
    return None


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("framepipe")
    except PackageNotFoundError:
        return "unknown"


if __name__ == "__main__":
    raise SystemExit(main())
