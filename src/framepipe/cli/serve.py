"""``framepipe serve --config FILE``: run the streams a config file names, each with its own
settings, one log, one stats server, until a stop signal.

The file (``cameras.toml``) names the streams, the one log and the stats server; see
:mod:`framepipe.cli._service_config`. The whole file is checked, and the processors it names
imported (a config file is trusted like code), before anything starts. ``--check`` stops there
and prints the streams it describes. Otherwise each stream runs in a worker process of its own,
as with ``framepipe run A B``, until SIGTERM or SIGINT (or until every stream has ended), and
the summary is printed.

Exit codes: 0 the file is good (``--check``) or every stream ended cleanly, 1 a stream failed or
the stats server could not start, 2 the file is not good (one line on stderr naming the file,
the stream and the key).
"""

from __future__ import annotations

import argparse
from dataclasses import asdict

from framepipe.cli._args import check_processor_imports
from framepipe.cli._console import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, fail, print_out
from framepipe.cli._monitoring import start_stats_server
from framepipe.cli._service_config import ServiceConfig, load_service_config
from framepipe.cli._several import finish_streams, supervise
from framepipe.cli.run import _import_from_cwd
from framepipe.logging import address as log_address
from framepipe.logging import configure, get_logger
from framepipe.monitor import StatsServer
from framepipe.pipeline.sources import parse_source
from framepipe.pipeline.stream_settings import SettingsError, StreamSettings
from framepipe.streams.api import start_streams
from framepipe.streams.job import LogTarget

__all__ = ["EPILOG", "add_arguments", "run"]

EPILOG = """\
examples:
  framepipe serve --config cameras.toml --check   check the file, list the streams it runs
  framepipe serve --config cameras.toml           run them until SIGTERM or Ctrl-C

The set of streams is the file's: it is not reloaded (SIGHUP stops the service, as SIGTERM
does), and there is no API to add or remove streams while it runs.
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
        help="only check the file (every key, the processors it imports) and print the streams "
        "it describes; exit 0 when it is good, 2 when it is not",
    )
    parser.add_argument(
        "--summary-json", metavar="FILE", default=None, help="write the summary as JSON"
    )


def run(args: argparse.Namespace) -> int:
    """Check the file; print its streams."""
    try:
        config = load_service_config(args.config)
        _check_imports(config)
    except SettingsError as exc:
        return fail(str(exc), EXIT_USAGE)
    if not args.check:
        return _serve(config, args.summary_json)
    problem = print_out(describe(config), "the streams")
    if problem is not None:
        return fail(problem, EXIT_FAILURE)
    return EXIT_OK


def _serve(config: ServiceConfig, summary_json: str | None) -> int:
    """Configure the one log, start the stats server and every stream, supervise, summarise."""
    if not config.streams:
        return fail(f"{config.path}: no [[stream]] to run", EXIT_USAGE)
    outputs = [str(s.config.output) for s in config.streams if s.config.output is not None]
    repeated = sorted({output for output in outputs if outputs.count(output) > 1})
    if repeated:
        return fail(f"{config.path}: streams share the output {repeated[0]}", EXIT_USAGE)
    settings = {key: value for key, value in asdict(config.log).items() if value is not None}
    log_dir = settings.pop("dir")
    try:
        log = configure(log_dir=log_dir, **settings)
    except (ValueError, OSError) as exc:
        return fail(f"{config.path}: [log]: {exc}", EXIT_USAGE)
    server: StatsServer | None = None
    try:
        streams = config.streams
        handle = start_streams(
            [stream.source for stream in streams],
            names=[stream.name for stream in streams],
            configs=[stream.config for stream in streams],
            processors=[stream.processor for stream in streams],
            log_target=LogTarget(log_dir, config.log.mode, address=log_address()),
            logger=get_logger("framepipe.streams"),
            start=False,  # the stats server binds its port first
        )
        where = argparse.Namespace(
            stats_host=config.server.host,
            stats_port=config.server.port,
            stall_s=None,
            stats_allow_host=None,
        )
        try:
            server = start_stats_server(where, log, handle.streams)
        except (OSError, RuntimeError) as exc:
            handle.close()
            return fail(f"{config.path}: [server]: {exc}", EXIT_FAILURE)
        handle.start()
        return finish_streams(supervise(handle, log), summary_json)
    finally:
        if server is not None:
            server.stop()
        log.stop()


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
