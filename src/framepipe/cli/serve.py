"""``framepipe serve --config FILE --check``: check a service config file and say what it runs.

The file (``cameras.toml``) names the streams, each with its own settings, the one log and the
stats server; see :mod:`framepipe.cli._service_config`. ``--check`` reads and checks all of it,
imports the processors it names (a config file is trusted like code) and prints the streams it
describes, without opening a source or writing a file.

Exit codes: 0 the file is good, 2 it is not (one line on stderr naming the file, the stream and
the key), 1 the listing could not be printed.
"""

from __future__ import annotations

import argparse

from framepipe.cli._args import check_processor_imports
from framepipe.cli._console import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, fail, print_out
from framepipe.cli._service_config import ServiceConfig, load_service_config
from framepipe.cli.run import _import_from_cwd
from framepipe.pipeline.sources import parse_source
from framepipe.pipeline.stream_settings import SettingsError, StreamSettings

__all__ = ["EPILOG", "add_arguments", "run"]

EPILOG = """\
examples:
  framepipe serve --config cameras.toml --check   check the file, list the streams it runs

Only --check is available: running the streams of a config file as a service is not.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``framepipe serve``."""
    parser.add_argument(
        "--config",
        required=True,
        metavar="FILE",
        help="the service's config file (TOML): [defaults], [log], [server] and [[stream]] tables",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        required=True,
        help="check the file (every key, the processors it imports) and print the streams it "
        "describes; exit 0 when it is good, 2 when it is not (required: running the service "
        "is not available yet)",
    )


def run(args: argparse.Namespace) -> int:
    """Check the file; print its streams."""
    try:
        config = load_service_config(args.config)
        _check_imports(config)
    except SettingsError as exc:
        return fail(str(exc), EXIT_USAGE)
    problem = print_out(describe(config), "the streams")
    if problem is not None:
        return fail(problem, EXIT_FAILURE)
    return EXIT_OK


def _check_imports(config: ServiceConfig) -> None:
    """Import what each stream's processor names, as ``framepipe run`` does before it starts."""
    for stream in config.streams:
        if any(":" in spec for spec in stream.processor):
            _import_from_cwd()
        try:
            check_processor_imports(stream.processor)
        except ValueError as exc:
            where = f"stream {stream.name!r}"
            raise SettingsError(config.path, where, "processor", str(exc)) from None
    server = config.server
    if server.api_processors is not None:
        try:
            check_processor_imports(server.api_processors)
        except ValueError as exc:
            raise SettingsError(config.path, "[server]", "api_processors", str(exc)) from None


def describe(config: ServiceConfig) -> str:
    """What the file describes, a line a stream, then the log and the server."""
    count = len(config.streams)
    lines = [f"{config.path}: {count} stream{'' if count == 1 else 's'}"]
    width = max((len(stream.name) for stream in config.streams), default=0)
    lines += [f"  {stream.name:<{width}}  {_stream_line(stream)}" for stream in config.streams]
    log, server = config.log, config.server
    lines.append(f"log     {log.dir} ({log.mode})")
    lines.append(f"server  http://{server.host}:{server.port}/")
    return "\n".join(lines)


def _stream_line(stream: StreamSettings) -> str:
    kind = parse_source(stream.source).kind
    settings = {key: value for key, value in stream.to_dict().items()
                if key not in ("name", "source", "processor")}  # fmt: skip
    extra = "".join(f"  {key}={_value(value)}" for key, value in settings.items())
    return f"{kind} {stream.source}  processor {'+'.join(stream.processor)}{extra}"


def _value(value: object) -> str:
    if isinstance(value, dict):
        return ",".join(f"{key}:{item}" for key, item in value.items())
    return str(value).lower() if isinstance(value, bool) else str(value)
