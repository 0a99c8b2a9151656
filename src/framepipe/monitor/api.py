"""The stats server's HTTP API hook: the types an application codes its endpoints against.

With ``serve(api=handler)`` the server hands every request on ``/streams``, ``/streams/NAME``
and ``/streams/NAME/restart`` to ``handler`` in the watched process (which owns the streams),
and sends back the :class:`ApiAnswer` it returns. The server only carries requests: what they
mean, who may make them and what they answer is the handler's.

``service`` is what a long-running service tells the server about itself with each reading.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypedDict

__all__ = [
    "ApiAnswer",
    "ApiHandler",
    "ApiRequest",
    "ServiceStats",
    "ServiceStatsProvider",
]


@dataclass(frozen=True)
class ApiRequest:
    """One API request, as the client sent it."""

    method: str  # "GET", "HEAD", "POST", "DELETE", ...
    path: str  # URL-decoded, without the query: "/streams", "/streams/NAME", ".../restart"
    body: Any  # the parsed JSON body (None when there was no body)
    authorization: str | None  # the Authorization header as sent, or None
    client: str  # "HOST:PORT" of the client, for audit logs


@dataclass(frozen=True)
class ApiAnswer:
    """What the client gets: ``document`` as JSON, or no body with status 204."""

    status: int
    document: Any = None  # JSON-able; None with status 204 (no body)
    headers: tuple[tuple[str, str], ...] = ()  # e.g. (("Location", "/streams/door"),)


ApiHandler = Callable[[ApiRequest], ApiAnswer]


class ServiceStats(TypedDict):
    """A service's own counters, exported on ``/metrics`` and ``/system-resources``."""

    config_reloads: dict[str, int]  # {"ok": n, "error": m}


ServiceStatsProvider = Callable[[], ServiceStats]
