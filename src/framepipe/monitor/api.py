"""The stats server's API hook: requests the server process forwards to the watched process."""
from __future__ import annotations
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypedDict

@dataclass(frozen=True)
class ApiRequest:
    method: str                 # "GET", "HEAD", "POST", "DELETE", ...
    path: str                   # URL-decoded path without query: "/streams", "/streams/NAME", "/streams/NAME/restart"
    body: Any                   # the parsed JSON body (None when there was no body)
    authorization: str | None   # the Authorization header as sent, or None
    client: str                 # "HOST:PORT" of the client, for audit logs

@dataclass(frozen=True)
class ApiAnswer:
    status: int
    document: Any = None        # JSON-able; None with status 204 (no body)
    headers: tuple[tuple[str, str], ...] = ()

ApiHandler = Callable[[ApiRequest], ApiAnswer]

class ServiceStats(TypedDict):
    config_reloads: dict[str, int]   # {"ok": n, "error": m}

ServiceStatsProvider = Callable[[], ServiceStats]
