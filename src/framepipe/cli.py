"""The ``framepipe`` command line: ``main(argv) -> exit code``.

Subcommands live with their feature (``framepipe.pipeline.cli``, ``framepipe.bench.cli``); each
module exposes ``add_arguments(parser)`` and ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from importlib import import_module

from framepipe._cli_support import EXIT_OK, EXIT_USAGE, fail

__all__ = ["main"]

# subcommand -> (module implementing it, one-line help)
_SUBCOMMANDS = {
    "run": ("framepipe.pipeline.cli", "process a camera, video file or stream in real time"),
    "bench": ("framepipe.bench.cli", "measure what sync and async logging cost per frame"),
}



class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line: ``framepipe: error: ...``, exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise SystemExit(fail(message, EXIT_USAGE))


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="framepipe", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subparsers.required = True
    for name, (module_name, help_text) in _SUBCOMMANDS.items():
        module = import_module(module_name)
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(sub)
        sub.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit code (0 ok, 1 failure, 2 usage)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        return int(args._run(args))
    except KeyboardInterrupt:
        return EXIT_OK


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("framepipe")
    except PackageNotFoundError:
        return "unknown"


if __name__ == "__main__":
    raise SystemExit(main())
