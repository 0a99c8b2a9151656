"""The application layer: the ``framepipe`` command line, ``main(argv) -> exit code``.

The only package that knows argparse, a terminal or a process's signals; it configures logging on
the user's behalf and hands typed values to the libraries below (``pipeline``, ``streams``,
``monitor``, ``bench``). Each command is a module with ``add_arguments(parser)`` and
``run(args) -> int``: :mod:`framepipe.cli.run` and :mod:`framepipe.cli.bench`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from importlib import import_module

from framepipe.cli._console import EXIT_INTERRUPTED, EXIT_USAGE, fail
from framepipe.cli._signals import hold_signals

__all__ = ["build_parser", "main"]

DESCRIPTION = (
    "Process frames from a camera, a video file or a network stream under a per-frame budget, "
    "logging through a non-blocking queue logger."
)
EPILOG = """\
examples:
  framepipe run                          process the built-in synthetic scene
  framepipe run samples/sample.mp4       process a video file (add --realtime to pace it)
  framepipe run 0 --stats-port 5000      webcam 0, watched at http://127.0.0.1:5000/
  framepipe bench --frames 100           what sync and async logging cost per frame

'framepipe COMMAND --help' describes a command's options.
"""

# subcommand -> (module implementing it, one-line help)
_SUBCOMMANDS = {
    "run": ("framepipe.cli.run", "process a camera, video file or stream in real time"),
    "bench": ("framepipe.cli.bench", "measure what sync and async logging cost per frame"),
    "serve": ("framepipe.cli.serve", "run the streams of a config file of cameras"),
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
    parser = _Parser(
        prog="framepipe",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subparsers.required = True
    chosen = _chosen_subcommand(argv)
    for name, (module_name, help_text) in _SUBCOMMANDS.items():
        if argv is None or name == chosen:
            module = import_module(module_name)
            sub = subparsers.add_parser(
                name,
                help=help_text,
                description=help_text,
                epilog=getattr(module, "EPILOG", None),
                formatter_class=argparse.RawDescriptionHelpFormatter,
            )
            module.add_arguments(sub)
            sub.set_defaults(_run=module.run)
        else:
            subparsers.add_parser(name, help=help_text, description=help_text)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit code (0 ok, 1 failure, 2 usage).

    Stop signals are the command's from here on, before the subcommand is even imported (see
    ``framepipe.cli._signals``). Run for the process's own command line (``argv`` None), the
    handler stays when it returns: a signal while the interpreter exits is noted, not fatal.
    """
    with hold_signals(restore=argv is not None):
        return _main(argv)


def _main(argv: Sequence[str] | None) -> int:
    _hold_standard_descriptors()
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(args_list)
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exc:  # --help, --version and usage errors
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        return int(args._run(args))
    except KeyboardInterrupt:  # Ctrl-C, or Interrupted by another stop signal
        # Commands turn the first stop signal into a clean stop; one that reaches here is a
        # second signal, or a Ctrl-C before a command took the signals over: work was cut short.
        return fail("interrupted", EXIT_INTERRUPTED)


def _hold_standard_descriptors() -> None:
    """Put the null device on stdin, stdout or stderr where the process started without one.

    The next file opened (the log, a video) would otherwise get that number, and whatever native
    code prints to stdout or stderr would land in it. Python's own ``sys.stdout`` stays None, so
    a summary that cannot be printed is still reported.
    """
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            os.open(os.devnull, os.O_RDWR)  # the lowest free number: this one


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
