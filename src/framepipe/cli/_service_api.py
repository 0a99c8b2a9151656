"""The service's HTTP API: what a request on ``/streams`` means, and who may make it.

:class:`ServiceApi` is an :data:`~framepipe.monitor.api.ApiHandler`: the stats server hands it
each request on ``/streams``, ``/streams/NAME`` and ``/streams/NAME/restart`` and sends back its
answer. Reads need nothing; every change needs ``Authorization: Bearer TOKEN``, checked before
the body is looked at. A stream added through the API is checked by
:func:`~framepipe.cli._api_policy.api_stream_settings` (what it may run, read and write).

Every error is a 4xx (5xx only when the stream set cannot take changes) with ``{"error": one
line}``. Every change is logged at INFO with the client and what changed; every refused change
at WARNING, in one line. The token is never logged.
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from framepipe._text import hide_secrets
from framepipe.cli._api_policy import TOKEN_ENV, api_stream_settings
from framepipe.cli._service_config import ServiceConfig
from framepipe.cli._service_streams import ServiceStreams, StreamConflict, StreamEntry
from framepipe.monitor.api import ApiAnswer, ApiRequest
from framepipe.pipeline.sources import SourceError
from framepipe.pipeline.stream_settings import SettingsError, StreamSettings
from framepipe.streams.api import StreamsHandle
from framepipe.streams.stream_set import (
    StreamNameInUse,
    StreamSetError,
    StreamState,
    UnknownStream,
)

__all__ = ["AuditLog", "ServiceApi", "hide_password"]

T = TypeVar("T")
COLLECTION = "/streams"
_READS = ("GET", "HEAD")
_ALLOWED = {  # the methods of each kind of path
    "streams": ("GET", "HEAD", "POST"),
    "stream": ("GET", "HEAD", "DELETE"),
    "restart": ("POST",),
}
_CHALLENGE = 'Bearer realm="framepipe"'


class AuditLog(Protocol):
    """Where the API says what it did: a framepipe logger, or a ``logging.Logger``."""

    def info(self, msg: str, *args: object) -> None: ...

    def warning(self, msg: str, *args: object) -> None: ...

    def error(self, msg: str, *args: object) -> None: ...


@dataclass(frozen=True)
class _Setup:
    """What a reload may change, swapped whole so a request sees one of them."""

    config: ServiceConfig
    token: bytes | None


class _Refusal(Exception):
    """An answer other than success; ``reason`` is the one line the client and the log get."""

    def __init__(self, status: int, reason: str, headers: tuple[tuple[str, str], ...] = ()):
        super().__init__(reason)
        self.status, self.reason, self.headers = status, reason, headers


class ServiceApi:
    """The API of a running service over its stream set.

    ``handle``: the running set (``start_streams(..., service=True)``). ``config``: the
    service's config file, checked (``[server]`` says what the API may do). ``token``: what
    changes need (:func:`~framepipe.cli._api_policy.load_api_token`; None: changes are
    refused). ``logger``: where changes are logged (``get_logger("framepipe.service")``).
    ``streams``: each stream's settings and origin, shared with whoever else changes the set
    (a config reload). The file's ``[defaults]`` apply to the streams the API adds.
    """

    def __init__(
        self,
        handle: StreamsHandle,
        config: ServiceConfig,
        token: str | None,
        logger: AuditLog,
        streams: ServiceStreams,
    ) -> None:
        self._handle = handle
        self._log = logger
        self._streams = streams
        self._setup = _setup(config, token)
        self._lock = threading.Lock()

    def reconfigure(self, config: ServiceConfig, token: str | None) -> None:
        """Take a reloaded file's settings (and token); requests already running keep theirs."""
        with self._lock:
            self._setup = _setup(config, token)

    def __call__(self, request: ApiRequest) -> ApiAnswer:
        try:
            return self._answer(request)
        except _Refusal as refusal:
            reason = hide_secrets(refusal.reason)  # a refused source's URL may be quoted
            if request.method not in _READS:
                self._warn(request, refusal.status, reason)
            return ApiAnswer(refusal.status, {"error": reason}, refusal.headers)
        except Exception as exc:  # a fault of ours, never of the input: said, and kept alive
            reason = f"internal error: {type(exc).__name__}"
            self._log.error(
                "api: %s %s from %s failed: %s",
                _shown(request.method),
                _shown(request.path),
                _shown(request.client),
                self._scrubbed(_printable(_one_line(exc))),
            )
            return ApiAnswer(500, {"error": reason})

    # -- routing ---------------------------------------------------------------------------

    def _answer(self, request: ApiRequest) -> ApiAnswer:
        kind, name = _route(request.path)
        allowed = _ALLOWED[kind]
        if request.method not in allowed:
            raise _Refusal(
                405,
                f"{_shown(request.method)} is not taken on {_shown(request.path)}: "
                f"{', '.join(allowed)} are",
                (("Allow", ", ".join(allowed)),),
            )
        if request.method in _READS:
            return self._read(name)
        setup = self._setup
        self._authorize(request, setup)
        if kind == "streams":
            return self._add(request, setup)
        assert name is not None  # a path with a name
        if kind == "restart":
            return self._restart(request, name)
        return self._remove(request, name)

    def _authorize(self, request: ApiRequest, setup: _Setup) -> None:
        if setup.token is None:
            raise _Refusal(
                403,
                "changes through the API need a token, and the service has none: set "
                f"[server] api_token_file in its config file, or {TOKEN_ENV} in its environment",
            )
        given = _bearer(request.authorization)
        if given is None:
            raise _Refusal(
                401,
                "changes need 'Authorization: Bearer TOKEN'",
                (("WWW-Authenticate", _CHALLENGE),),
            )
        if not hmac.compare_digest(given.encode("utf-8", "surrogatepass"), setup.token):
            raise _Refusal(
                401,
                "the token is not the service's",
                (("WWW-Authenticate", f'{_CHALLENGE}, error="invalid_token"'),),
            )

    # -- reads -----------------------------------------------------------------------------

    def _read(self, name: str | None) -> ApiAnswer:
        states = self._ask(self._handle.list_streams)
        entries = self._streams.entries()
        if name is None:
            objects = [_stream_object(state, entries.get(state.name)) for state in states]
            return ApiAnswer(200, {"streams": objects})
        for state in states:
            if state.name == name:
                return ApiAnswer(200, _stream_object(state, entries.get(name)))
        raise _Refusal(404, f"no stream named {_shown(name)}")

    # -- changes ---------------------------------------------------------------------------

    def _add(self, request: ApiRequest, setup: _Setup) -> ApiAnswer:
        try:
            settings = api_stream_settings(request.body, setup.config)
        except SettingsError as exc:
            raise _Refusal(400, str(exc)) from None
        except RecursionError:  # a body nested deeper than anything can read
            raise _Refusal(400, "request: the body is nested too deeply") from None
        entry = StreamEntry(settings, "api")
        try:
            self._streams.claim(entry, most=setup.config.server.api_max_streams)
        except StreamConflict as exc:
            raise _Refusal(409, str(exc)) from None
        try:
            state = self._handle.add_stream(
                settings.name, settings.source, settings.processor, settings.config
            )
        except TimeoutError as exc:  # queued: it may still start, so its claim stays
            raise _Refusal(503, f"{exc}: the stream may still start") from None
        except StreamNameInUse as exc:  # in the set, though not in the record
            self._streams.release(entry)
            raise _Refusal(409, str(exc)) from None
        except (ValueError, SourceError) as exc:  # a results file it cannot write included
            self._streams.release(entry)
            reason = f"request: stream {settings.name!r}: {_one_line(exc)}"
            raise _Refusal(400, reason) from None
        except StreamSetError as exc:  # closing, or too many changes waiting
            self._streams.release(entry)
            raise _Refusal(503, str(exc)) from None
        except BaseException:
            self._streams.release(entry)
            raise
        self._changed(request, f"added stream {settings.name!r} ({_described(settings)})")
        location = (("Location", f"{COLLECTION}/{settings.name}"),)
        return ApiAnswer(201, _stream_object(state, entry), location)

    def _remove(self, request: ApiRequest, name: str) -> ApiAnswer:
        self._ask(lambda: self._handle.remove_stream(name))
        entry = self._streams.forget(name)
        what = f" ({_described(entry.settings)})" if entry is not None else ""
        self._changed(request, f"removed stream {name!r}{what}")
        return ApiAnswer(204)

    def _restart(self, request: ApiRequest, name: str) -> ApiAnswer:
        state = self._ask(lambda: self._handle.restart_stream(name))
        self._changed(request, f"restarted stream {name!r}")
        return ApiAnswer(200, _stream_object(state, self._streams.get(name)))

    def _ask(self, change: Callable[[], T]) -> T:
        """``change()`` of the stream set, its errors as the answers they mean."""
        try:
            return change()
        except UnknownStream as exc:
            raise _Refusal(404, str(exc)) from None
        except StreamNameInUse as exc:
            raise _Refusal(409, str(exc)) from None
        except StreamSetError as exc:  # closed, busy: not now
            raise _Refusal(503, str(exc)) from None
        except TimeoutError as exc:
            raise _Refusal(503, str(exc)) from None

    # -- the audit log ---------------------------------------------------------------------

    def _changed(self, request: ApiRequest, what: str) -> None:
        self._log.info("api: %s %s", _shown(request.client), self._scrubbed(_printable(what)))

    def _warn(self, request: ApiRequest, status: int, reason: str) -> None:
        self._log.warning(
            "api: refused %s %s from %s: %d %s",
            _shown(request.method),
            _shown(request.path),
            _shown(request.client),
            status,
            self._scrubbed(_printable(reason)),
        )

    def _scrubbed(self, text: str) -> str:
        """``text`` without the token, whatever a client put where a value is echoed, and
        without a URL's password."""
        text = hide_secrets(text)
        token = self._setup.token
        if token is None:
            return text
        return text.replace(token.decode("ascii"), "***")


def hide_password(text: str | int) -> str | int:
    """``text`` with every URL's password (and query secrets) hidden, as everywhere a source
    is shown (:func:`framepipe._text.hide_secrets`); a camera index as it is."""
    if not isinstance(text, str):
        return text
    return hide_secrets(text)


def _setup(config: ServiceConfig, token: str | None) -> _Setup:
    return _Setup(config, None if token is None else token.encode("ascii"))


def _route(path: str) -> tuple[str, str | None]:
    """The kind of path (``streams``, ``stream``, ``restart``) and the stream it names."""
    parts = path.split("/")
    if parts[:2] == ["", "streams"] and len(parts) <= 4:
        if len(parts) == 2:
            return "streams", None
        if parts[2]:
            if len(parts) == 3:
                return "stream", parts[2]
            if parts[3] == "restart":
                return "restart", parts[2]
    raise _Refusal(404, f"no such resource: {_shown(path)}")


def _bearer(authorization: str | None) -> str | None:
    """The token of ``Bearer TOKEN``; None when the header is missing or of another scheme."""
    if authorization is None:
        return None
    scheme, _, credentials = authorization.strip().partition(" ")
    credentials = credentials.strip()
    if scheme.lower() != "bearer" or not credentials:
        return None
    return credentials


def _stream_object(state: StreamState, entry: StreamEntry | None) -> dict[str, Any]:
    """One stream as the API shows it; a URL's password is never shown."""
    settings = None
    if entry is not None:
        settings = entry.settings.to_dict()
        settings["source"] = hide_password(settings["source"])
    shown = state.to_dict()
    for key in ("source", "error"):  # an error may quote the source
        shown[key] = hide_password(shown[key]) if shown[key] is not None else None
    return {
        "name": state.name,
        "settings": settings,
        "origin": entry.origin if entry is not None else None,
        "state": shown,
    }


def _described(settings: StreamSettings) -> str:
    """What a stream is, for the audit log: its source, processors and outputs."""
    parts = [
        f"source {hide_password(settings.source)}",
        f"processor {'+'.join(settings.processor)}",
    ]
    for key in ("output", "results"):
        value = getattr(settings.config, key)
        if value is not None:
            parts.append(f"{key} {value}")
    return ", ".join(parts)


def _printable(text: str) -> str:
    """``text`` with what is not printable escaped (no line of a log is two)."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


def _shown(text: str) -> str:
    """A client's text for a message: printable, at most 200 characters."""
    shown = _printable(text)
    return shown if len(shown) <= 200 else f"{shown[:160]}...{shown[-30:]}"


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
