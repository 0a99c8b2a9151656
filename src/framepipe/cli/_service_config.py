"""The service's config file (``cameras.toml``): its streams, its log and its server, as values.

``[defaults]`` holds settings every ``[[stream]]`` gets unless it sets its own; each stream is
checked by :func:`framepipe.pipeline.stream_settings.stream_settings` (the same checks as the
flags of ``framepipe run`` and, later, a request body). ``[log]`` is the one log, ``[server]``
the stats server and what the API may do. Any mistake is a :class:`SettingsError`: one line
naming the file, the stream (or table) and the key.
"""

from __future__ import annotations

import difflib
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

from framepipe.logging import OVERFLOW_POLICIES
from framepipe.pipeline.stream_settings import (
    SettingsError,
    StreamSettings,
    check_processor_form,
    settings_defaults,
    stream_settings,
)
from framepipe.typing import LogMode, Overflow

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the oldest supported Python
    import tomli as tomllib

__all__ = [
    "FILE_KEYS",
    "LogSettings",
    "ServerSettings",
    "ServiceConfig",
    "load_service_config",
    "parse_service_config",
]

FILE_KEYS = ("defaults", "log", "server", "stream")
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5000
DEFAULT_API_MAX_STREAMS = 32  # workers of ~100 MB each: a few GB at most
LOG_MODES: tuple[LogMode, ...] = get_args(LogMode)


@dataclass(frozen=True)
class LogSettings:
    """``[log]``: the one log every stream writes to (see ``framepipe.logging.configure``)."""

    dir: str = "logs"
    mode: LogMode = "async"
    max_bytes: int | None = None  # None: the logger's default
    backup_count: int | None = None
    queue_size: int | None = None
    overflow: Overflow | None = None


@dataclass(frozen=True)
class ServerSettings:
    """``[server]``: where the stats server (and the API) listens and what the API may do.

    ``api_processors`` None: the built-ins and every processor the file itself uses.
    """

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    api_token_file: str | None = None
    output_dir: str | None = None
    media_dir: str | None = None
    api_processors: tuple[str, ...] | None = None
    cv_threads: int | None = None  # None: one per local worker; with Ray, its CPUs per stream
    # The API adds no stream once the service runs this many (the file's count too; the file
    # itself is not held to it): a token cannot start workers without bound.
    api_max_streams: int = DEFAULT_API_MAX_STREAMS


@dataclass(frozen=True)
class ServiceConfig:
    """A whole config file, checked."""

    path: str
    streams: tuple[StreamSettings, ...]
    log: LogSettings = field(default_factory=LogSettings)
    server: ServerSettings = field(default_factory=ServerSettings)
    defaults: Mapping[str, Any] = field(default_factory=dict)  # [defaults], checked


def load_service_config(path: str | Path) -> ServiceConfig:
    """Read and check ``path``; SettingsError (one line) for a file that cannot be used."""
    name = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise SettingsError(
            name, "", None, f"cannot read the file: {exc.strerror or exc}"
        ) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SettingsError(name, "", None, f"not UTF-8 text (byte {exc.start})") from None
    return parse_service_config(text, name)


def parse_service_config(text: str, where: str = "config") -> ServiceConfig:
    """Check the TOML ``text`` of a config file called ``where`` (used in messages)."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(where, "", None, f"not valid TOML: {exc}") from None
    except (ValueError, RecursionError) as exc:  # a parser limit (nesting too deep)
        raise SettingsError(where, "", None, f"not valid TOML: {exc}") from None
    _known(where, "", document, FILE_KEYS)
    defaults = settings_defaults(document.get("defaults", {}), where=where)
    tables = document.get("stream", [])
    if not isinstance(tables, list):
        raise SettingsError(where, "", "stream", "stream must be [[stream]] tables, one a stream")
    streams: list[StreamSettings] = []
    first: dict[str, int] = {}
    writers: dict[str, str] = {}  # each output video, as an absolute path: its stream
    for position, table in enumerate(tables, start=1):
        stream = stream_settings(table, where=where, position=position, defaults=defaults)
        if stream.name in first:
            raise SettingsError(
                where,
                f"stream {stream.name!r}",
                "name",
                f"name {stream.name!r} of stream {position} is already the name of stream "
                f"{first[stream.name]}",
            )
        first[stream.name] = position
        _one_writer(where, stream, writers)
        streams.append(stream)
    return ServiceConfig(
        where,
        tuple(streams),
        _log(where, document.get("log", {})),
        _server(where, document.get("server", {})),
        defaults,
    )


def _one_writer(where: str, stream: StreamSettings, writers: dict[str, str]) -> None:
    """Two streams writing one video file would each ruin the other's."""
    output = stream.config.output
    if output is None:
        return
    path = os.path.abspath(os.fspath(output))
    if path in writers:
        raise SettingsError(
            where, f"stream {stream.name!r}", "output",
            f"output {os.fspath(output)} is also the output of stream {writers[path]!r}",
        )  # fmt: skip
    writers[path] = stream.name


def _known(where: str, table: str, mapping: Mapping[str, Any], keys: tuple[str, ...]) -> None:
    for key in mapping:
        if key not in keys:
            close = difflib.get_close_matches(key, keys, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise SettingsError(where, table, key, f"unknown key {key!r}{hint}")


def _table(where: str, name: str, value: Any, keys: tuple[str, ...]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise SettingsError(where, "", name, f"{name} must be a table, but got {value!r}")
    _known(where, f"[{name}]", value, keys)
    return value


def _log(where: str, value: Any) -> LogSettings:
    table = _table(where, "log", value, ("dir", "mode", "max_bytes", "backup_count",
                                         "queue_size", "overflow"))  # fmt: skip

    def fail(key: str, expected: str) -> SettingsError:
        return SettingsError(where, "[log]", key, f"{key} must be {expected}, but got "
                             f"{table[key]!r}")  # fmt: skip

    for key, low in (("max_bytes", 0), ("backup_count", 0), ("queue_size", 1)):
        item = table.get(key, low)
        if isinstance(item, bool) or not isinstance(item, int) or item < low:
            raise fail(key, f"an integer >= {low}")
    if "dir" in table and (not isinstance(table["dir"], str) or not table["dir"]):
        raise fail("dir", "a directory")
    if table.get("mode", "async") not in LOG_MODES:
        raise fail("mode", f"one of {', '.join(LOG_MODES)}")
    if table.get("overflow", OVERFLOW_POLICIES[0]) not in OVERFLOW_POLICIES:
        raise fail("overflow", f"one of {', '.join(OVERFLOW_POLICIES)}")
    return LogSettings(**table)


def _server(where: str, value: Any) -> ServerSettings:
    keys = (
        "host", "port", "api_token_file", "output_dir", "media_dir", "api_processors",
        "cv_threads", "api_max_streams",
    )  # fmt: skip
    table = _table(where, "server", value, keys)

    def fail(key: str, reason: str) -> SettingsError:
        return SettingsError(where, "[server]", key, f"{key} {reason}")

    host = table.get("host", DEFAULT_HOST)
    if not isinstance(host, str) or not host.strip():
        raise fail("host", f"must be an IP address or a host name, but got {host!r}")
    port = table.get("port", DEFAULT_PORT)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise fail("port", f"must be a port number from 0 to 65535, but got {port!r}")
    for key in ("api_token_file", "output_dir", "media_dir"):
        item = table.get(key)
        if item is not None and (not isinstance(item, str) or not item):
            raise fail(key, f"must be a path, but got {item!r}")
    cv_threads = table.get("cv_threads")
    if cv_threads is not None and (
        isinstance(cv_threads, bool) or not isinstance(cv_threads, int) or cv_threads < 1
    ):
        raise fail("cv_threads", f"must be a whole number of at least 1, but got {cv_threads!r}")
    most = table.get("api_max_streams", DEFAULT_API_MAX_STREAMS)
    if isinstance(most, bool) or not isinstance(most, int) or most < 1:
        raise fail("api_max_streams", f"must be a whole number of at least 1, but got {most!r}")
    processors = table.get("api_processors")
    if processors is not None:
        if not isinstance(processors, list):
            raise fail("api_processors", f"must be a list of processors, but got {processors!r}")
        for item in processors:
            try:
                check_processor_form(item)
            except ValueError as exc:
                raise fail("api_processors", f"item: {exc}") from None
    return ServerSettings(
        host=host,
        port=port,
        api_token_file=table.get("api_token_file"),
        output_dir=table.get("output_dir"),
        media_dir=table.get("media_dir"),
        api_processors=None if processors is None else tuple(processors),
        cv_threads=cv_threads,
        api_max_streams=most,
    )
