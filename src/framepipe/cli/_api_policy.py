"""What a stream added through the service's API may do, and the token changes need.

The config file is trusted like code; a request body is not. A body is checked as a
``[[stream]]`` table is (the same words), and first, on its raw values, against ``[server]``:

- processors: the built-ins and ``api_processors`` (when unset: the built-ins and every
  processor the file names). Anything else is refused before it is imported;
- what a stream writes (``output``, ``results``) must resolve under ``output_dir`` (symlinks
  followed, ``..`` taken by its form); a relative path is taken from there, and the path handed
  on is the resolved one. ``display`` is refused: a service has no screen;
- a file source must resolve under ``media_dir`` (a relative path is taken from there); a name
  with a protocol prefix (``file:``, ``concat:``, ``subfile,``) is refused, and a file is handed
  on as its absolute path, which FFmpeg never reads as a protocol. Cameras, stream URLs and the
  synthetic scene are taken.

Whether a file exists is asked only of paths under ``media_dir``: a path elsewhere is refused in
the same words whether or not something is there.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from framepipe._paths import PathError, check_utf8
from framepipe.cli._args import check_processor_imports
from framepipe.cli._service_config import ServerSettings, ServiceConfig
from framepipe.cli.run import _import_from_cwd
from framepipe.pipeline.processors import PROCESSOR_NAMES
from framepipe.pipeline.sources import STREAM_SCHEMES
from framepipe.pipeline.stream_settings import (
    SettingsError,
    StreamSettings,
    stream_settings,
)

__all__ = [
    "REQUEST",
    "TOKEN_ENV",
    "allowed_processors",
    "api_stream_settings",
    "load_api_token",
    "weak_token",
]

REQUEST = "request"  # where a body's messages say it came from
TOKEN_ENV = "FRAMEPIPE_API_TOKEN"
MAX_TOKEN_BYTES = 4096
# Shorter than this, a token may be guessed by whoever reaches the port: 16 characters of
# secrets.token_urlsafe hold 96 bits.
MIN_TOKEN_CHARS = 16

# FFmpeg reads "name:rest" as protocol "name" (file:, concat:, subfile:, pipe:, ...), and
# "subfile,...:" too; such a source is not a file name.
_PROTOCOL = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):|subfile,", re.IGNORECASE)
_DOS_PATH = re.compile(r"[A-Za-z]:[\\/]")
_TOKEN = re.compile(r"[!-~]+")  # printable ASCII, no spaces: what a header carries unchanged
_Refuse = Callable[[str, str], SettingsError]  # (key, reason): the error naming the stream
# A source of this form is no file, whatever the value holds (the probe check stands in it).
_PLACEHOLDER_SOURCE = "synthetic"


def api_stream_settings(
    body: object, config: ServiceConfig, *, where: str = REQUEST
) -> StreamSettings:
    """The stream a request body describes, with the file's ``[defaults]``, if the API may run it.

    SettingsError (one line) otherwise. The order matters: the body's form is checked with its
    source left out (nothing is opened, imported or looked up), then the policy on the raw
    values, then the whole stream as the file's are checked (a file source, now known to be
    under ``media_dir``, must exist), and last the processors are imported.
    """
    given = dict(config.defaults)
    probe = stream_settings(_without_source(body), where=where, defaults=given)
    if not isinstance(body, Mapping):  # the probe refused it already
        raise SettingsError(where, "stream", None, "must be a table of settings")
    table: dict[str, Any] = dict(body)
    server = config.server

    def refuse(key: str, reason: str) -> SettingsError:
        return SettingsError(where, f"stream {probe.name!r}", key, reason)

    if probe.config.display:
        raise refuse("display", "display: a service has no screen (display = true is not "
                     "taken through the API)")  # fmt: skip
    allowed = allowed_processors(config)
    for item in probe.processor:
        if item not in allowed:
            raise refuse("processor", f"processor {item!r} is not allowed through the API "
                         f"(allowed: {', '.join(sorted(allowed))}; [server] api_processors "
                         "says which)")  # fmt: skip
    for key in ("output", "results"):
        value = getattr(probe.config, key)
        if value is not None:
            table[key] = _written(key, os.fspath(value), server.output_dir, refuse)
    source = table["source"]  # the probe found one
    if isinstance(source, str):
        table["source"] = _read(source, server.media_dir, refuse)
    settings = stream_settings(table, where=where, defaults=given)
    if any(":" in item for item in settings.processor):
        _import_from_cwd()  # as the file's own are imported
    try:
        check_processor_imports(settings.processor)
    except ValueError as exc:
        raise refuse("processor", str(exc)) from None
    return settings


def allowed_processors(config: ServiceConfig) -> frozenset[str]:
    """What a stream added through the API may run: the built-ins and ``[server]
    api_processors``; when that is unset, the built-ins and what the file names (its streams'
    and its ``[defaults]``')."""
    allowed = set(PROCESSOR_NAMES)
    if config.server.api_processors is not None:
        allowed.update(config.server.api_processors)
        return frozenset(allowed)
    for stream in config.streams:
        allowed.update(stream.processor)
    allowed.update(_names(config.defaults.get("processor")))
    return frozenset(allowed)


def weak_token(token: str | None) -> str | None:
    """What to warn about a token short enough to be guessed; None for a good one, or none."""
    if token is None or len(token) >= MIN_TOKEN_CHARS:
        return None
    return (
        f"the API token has {len(token)} characters: one shorter than {MIN_TOKEN_CHARS} may be "
        'guessed; make one with python -c "import secrets; print(secrets.token_urlsafe(32))"'
    )


def load_api_token(
    server: ServerSettings, environ: Mapping[str, str], *, where: str = ""
) -> str | None:
    """The token changes through the API need: ``[server] api_token_file``'s text (stripped),
    else ``FRAMEPIPE_API_TOKEN``; None when neither gives one (changes are then refused).

    SettingsError for a token file that cannot be read or holds no token, and for a token that
    is not printable ASCII without spaces (a header could not carry it unchanged). ``where``
    (the config file's name) starts the message.
    """
    path = server.api_token_file
    if path is None:
        token = environ.get(TOKEN_ENV, "").strip()
        if not token:
            return None
        if not _TOKEN.fullmatch(token):
            raise SettingsError(where, "", TOKEN_ENV, f"{TOKEN_ENV} must be printable ASCII "
                                "without spaces")  # fmt: skip
        return token

    def refuse(reason: str) -> SettingsError:
        return SettingsError(
            where, "[server]", "api_token_file", f"api_token_file {path}: {reason}"
        )

    try:
        with open(path, "rb") as file:
            data = file.read(MAX_TOKEN_BYTES + 1)
    except OSError as exc:
        raise refuse(f"cannot read the token: {exc.strerror or exc}") from None
    except ValueError:  # an embedded NUL
        raise refuse("not a file name") from None
    if len(data) > MAX_TOKEN_BYTES:
        raise refuse(f"more than {MAX_TOKEN_BYTES} bytes: not a token")
    try:
        token = data.decode("ascii").strip()
    except UnicodeDecodeError:
        raise refuse("the token must be printable ASCII without spaces") from None
    if not token:
        raise refuse("the file is empty: it must hold the token")
    if not _TOKEN.fullmatch(token):
        raise refuse("the token must be printable ASCII without spaces, on one line")
    return token


def _without_source(body: object) -> object:
    """``body`` with a source that is text replaced by one that is no file, for a check of
    everything else that stats nothing (a number, or no source, is checked as it is)."""
    if isinstance(body, Mapping) and isinstance(body.get("source"), str):
        return {**body, "source": _PLACEHOLDER_SOURCE}
    return body


def _names(value: object) -> Iterable[str]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return (item for item in value if isinstance(item, str))
    return ()


def _kind(text: str) -> str:
    """What ``parse_source`` takes ``text`` for, asking nothing of the file system: ``file``
    for a name it would look up; ``other`` for what it refuses before any lookup."""
    text = text.strip()
    try:
        check_utf8(text, "source")
    except PathError:
        return "other"
    if not text or text.isdigit():
        return "other"  # refused, or a camera
    if text.lower().startswith(STREAM_SCHEMES):
        return "stream"
    if text == "synthetic" or text.startswith("synthetic:"):
        return "synthetic"
    return "file"


def _read(source: str, media_dir: str | None, refuse: _Refuse) -> str:
    """A file source as the absolute path under ``media_dir`` it names; anything else as it is."""
    if _kind(source) != "file":
        return source
    text = source.strip()
    protocol = _PROTOCOL.match(text)
    if protocol and not (os.name == "nt" and _DOS_PATH.match(text)):
        raise refuse("source", f"source {_quoted(text)} names a protocol "
                     f"({protocol.group(0)}); through the API a source is a camera index, a "
                     f"stream URL ({', '.join(STREAM_SCHEMES)}), 'synthetic[:WxH@FPS:SECONDS]' "
                     "or a file under [server] media_dir")  # fmt: skip
    if media_dir is None:
        raise refuse("source", "source: a file read through the API must be under [server] "
                     "media_dir, which is not set (set it to allow files)")  # fmt: skip
    resolved = _under(media_dir, text)
    if resolved is None:
        raise refuse("source", f"source {_quoted(text)} is not under [server] media_dir")
    return resolved


def _written(key: str, path: str, output_dir: str | None, refuse: _Refuse) -> str:
    """A path a stream writes as the absolute path under ``output_dir`` it names."""
    if path == "-" and key == "results":
        raise refuse(key, "results: '-' is the service's own standard output, which is not "
                     "taken through the API: name a file under [server] output_dir")  # fmt: skip
    if output_dir is None:
        raise refuse(key, f"{key}: a file written through the API must be under [server] "
                     "output_dir, which is not set (set it to allow outputs)")  # fmt: skip
    try:
        check_utf8(path, key)
    except PathError as exc:
        raise refuse(key, str(exc)) from None
    resolved = _under(output_dir, path)
    if resolved is None:
        raise refuse(key, f"{key} {_quoted(path)} is not under [server] output_dir")
    return resolved


def _under(root_dir: str, path: str) -> str | None:
    """``path`` (relative: from ``root_dir``) resolved, symlinks and all, when it stays under
    ``root_dir``; None when it does not, or is no name the system takes.

    The lexical form is checked first, so symlinks are followed only where they lie under
    ``root_dir`` (the operator's), never in a directory elsewhere: whether a path outside is a
    link, a file or nothing makes no difference to the answer. ``..`` is taken by its form
    (``a/link/..`` is ``a``); the caller hands on the resolved path, so what is opened is what
    was checked.
    """
    if "\x00" in path:
        return None
    try:
        root = os.path.realpath(root_dir)
        lexical = os.path.normpath(os.path.join(root, path))
        if not _inside(lexical, root):
            return None
        resolved = os.path.realpath(lexical)
    except (OSError, ValueError):  # a name the system refuses
        return None
    return resolved if _inside(resolved, root) else None


def _inside(path: str, root: str) -> bool:
    try:
        return os.path.commonpath([root, path]) == root
    except ValueError:  # another drive; an absolute and a relative path
        return False


def _quoted(text: str) -> str:
    shown = repr(text)
    return shown if len(shown) <= 240 else f"{shown[:200]}...{shown[-30:]}"
