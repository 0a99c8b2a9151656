"""``framepipe serve --config FILE``: run the streams a config file names, each with its own
settings, one log, one stats server, until a stop signal.

The file (``cameras.toml``) names the streams, the one log and the stats server; see
:mod:`framepipe.cli._service_config`. The whole file is checked, and the processors it names
imported (a config file is trusted like code), before anything starts. ``--check`` stops there
and prints the streams it describes. Otherwise each stream runs in a worker process of its own
(with ``--engine ray``, a Ray actor), as with ``framepipe run A B``, until SIGTERM or SIGINT,
and the summary is printed. The service
stays up when streams end (they stay listed as ``ended``) and when it has none: streams come
and go through the HTTP API (:mod:`framepipe.cli._service_api`) and with the file, read again
on SIGHUP (:mod:`framepipe.cli._service_reload`).

Exit codes: 0 the file is good (``--check``) or every stream ended cleanly, 1 a stream failed or
the stats server could not start, 2 the file is not good (one line on stderr naming the file,
the stream and the key).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
from dataclasses import asdict
from functools import partial
from typing import Any

from framepipe._text import hide_secrets
from framepipe.cli._api_policy import load_api_token, weak_token
from framepipe.cli._args import (
    add_engine_arguments,
    check_processor_imports,
    engine_flags_usage,
)
from framepipe.cli._console import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, fail, print_out
from framepipe.cli._monitoring import start_stats_server
from framepipe.cli._service_api import ServiceApi
from framepipe.cli._service_config import ServiceConfig, load_service_config
from framepipe.cli._service_reload import ConfigReloader
from framepipe.cli._service_streams import ServiceStreams
from framepipe.cli._several import _ray_options, finish_streams, supervise
from framepipe.cli.run import _import_from_cwd
from framepipe.logging import Logger, configure, get_logger
from framepipe.logging import address as log_address
from framepipe.monitor import StatsServer
from framepipe.pipeline.sources import parse_source
from framepipe.pipeline.stream_settings import SettingsError, StreamSettings
from framepipe.streams.api import start_streams
from framepipe.streams.engine import LocalEngine, StartMethod
from framepipe.streams.job import LogTarget
from framepipe.streams.ray_engine import RayNotInstalled, RayStartError, require_ray

__all__ = ["EPILOG", "SERVICE_LOGGER", "add_arguments", "load_checked", "run"]

SERVICE_LOGGER = "framepipe.service"  # reloads and changes through the API
_START_METHOD: StartMethod = (
    "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
)

EPILOG = """\
examples:
  framepipe serve --config cameras.toml --check   check the file, list the streams it runs
  framepipe serve --config cameras.toml           run them until SIGTERM or Ctrl-C
  framepipe serve --config cameras.toml --engine ray   each stream in a Ray actor

SIGHUP reads the file again: streams it adds start, streams it removes stop, streams whose
settings changed restart, the others go on. GET/POST /streams, DELETE /streams/NAME and
POST /streams/NAME/restart on the stats port change the set while it runs (changes need
Authorization: Bearer TOKEN, the token from [server] api_token_file or FRAMEPIPE_API_TOKEN).
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
    add_engine_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Check the file; print its streams, or serve them."""
    usage = engine_flags_usage(args)
    if usage is not None:
        return fail(usage, EXIT_USAGE)
    try:
        config = load_checked(args.config)
        token = load_api_token(config.server, os.environ, where=config.path)
        if args.engine == "ray":
            require_ray()
    except (SettingsError, RayNotInstalled) as exc:
        return fail(str(exc), EXIT_USAGE)
    if not args.check:
        return _serve(config, token, args)
    problem = print_out(describe(config), "the streams")
    if problem is not None:
        return fail(problem, EXIT_FAILURE)
    return EXIT_OK


def _warn_if_weak(token: str | None, log: Logger) -> None:
    warning = weak_token(token)
    if warning is not None:
        log.warning("%s", warning)


def load_checked(path: str) -> ServiceConfig:
    """The file read and checked, and the processors it names imported; SettingsError if not."""
    config = load_service_config(path)
    _check_imports(config)
    return config


def _serve(config: ServiceConfig, token: str | None, args: argparse.Namespace) -> int:
    """Configure the one log, start the stats server (with the API) and every stream, supervise
    until a stop signal (reloading the file on SIGHUP), summarise."""
    try:
        engine = _engine_options(args)
    except RayNotInstalled as exc:
        return fail(str(exc), EXIT_USAGE)
    except RayStartError as exc:  # nothing answers at --ray-address: said before a log exists
        return fail(str(exc), EXIT_FAILURE)
    settings = {key: value for key, value in asdict(config.log).items() if value is not None}
    log_dir = settings.pop("dir")
    try:
        log = configure(log_dir=log_dir, **settings)
    except (ValueError, OSError) as exc:
        return fail(f"{config.path}: [log]: {exc}", EXIT_USAGE)
    server: StatsServer | None = None
    try:
        streams = config.streams
        try:
            handle = start_streams(
                [stream.source for stream in streams],
                names=[stream.name for stream in streams],
                configs=[stream.config for stream in streams],
                processors=[stream.processor for stream in streams],
                service=True,  # runs until stopped: ended streams stay listed, they come and go
                log_target=LogTarget(log_dir, config.log.mode, address=log_address()),
                logger=get_logger("framepipe.streams"),
                start=False,  # the stats server binds its port first
                cv_threads=_cv_threads(config, args),
                **engine,
            )
        except RayStartError as exc:  # Ray would not start, or the cluster is out of reach
            log.error("%s", exc)  # the log says why it holds nothing else
            return fail(str(exc), EXIT_FAILURE)
        registry = ServiceStreams.from_file(streams)
        service_log = get_logger(SERVICE_LOGGER)
        api = ServiceApi(handle, config, token, service_log, registry)
        _warn_if_weak(token, service_log)

        tokens = [token]  # the one in use: a reloaded file may name another

        def applied(reloaded: ServiceConfig) -> None:
            try:
                loaded = load_api_token(reloaded.server, os.environ, where=reloaded.path)
            except SettingsError as exc:
                service_log.error("reload: %s; the API token in use is kept", exc)
            else:
                if loaded != tokens[0]:
                    _warn_if_weak(loaded, service_log)
                tokens[0] = loaded
            api.reconfigure(reloaded, tokens[0])

        reloader = ConfigReloader(
            partial(load_checked, config.path), config, handle, registry, service_log, applied
        )
        where = argparse.Namespace(
            stats_host=config.server.host,
            stats_port=config.server.port,
            stall_s=None,
            stats_allow_host=None,
        )
        try:
            server = start_stats_server(
                where, log, handle.streams, api=api, service=reloader.stats
            )
        except (OSError, RuntimeError) as exc:
            handle.close()
            return fail(f"{config.path}: [server]: {exc}", EXIT_FAILURE)
        handle.start()
        return finish_streams(supervise(handle, log, reload=reloader.reload), args.summary_json)
    finally:
        if server is not None:
            server.stop()
        log.stop()


def _cv_threads(config: ServiceConfig, args: argparse.Namespace) -> int | None:
    """OpenCV threads per worker: ``[server] cv_threads``, else one per local worker. A
    service's streams come and go, so the cores cannot be shared out by their number at the
    start; and a stream whose frames are split over both cores of a small machine waits for
    whatever else runs on either, a stream starting beside it included. With Ray (None): the
    CPUs each actor asks for."""
    if config.server.cv_threads is not None:
        return config.server.cv_threads
    return None if args.engine == "ray" else 1


def _engine_options(args: argparse.Namespace) -> dict[str, Any]:
    """Where the streams run: ``start_streams``'s engine options for ``--engine``."""
    if args.engine == "ray":  # an actor each; a stream added later starts a new one
        return _ray_options(args)
    # A fork server that imported numpy, OpenCV and the pipeline once forks each worker: a
    # stream added later reaches its first frame in a fraction of the second a fresh
    # interpreter would take to import them. (This process is the service's own: setting the
    # fork server's preload list here touches no one else's program.)
    if _START_METHOD == "forkserver":
        return {"engine": LocalEngine("forkserver", preload=True)}
    return {"engine": LocalEngine("spawn")}


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
    source = hide_secrets(str(stream.source))  # a camera's password is never shown
    return f"{kind} {source}  processor {'+'.join(stream.processor)}{extra}"


def _value(value: object) -> str:
    if isinstance(value, dict):
        return ",".join(f"{key}:{item}" for key, item in value.items())
    return str(value).lower() if isinstance(value, bool) else str(value)
