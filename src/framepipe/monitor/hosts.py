"""Which ``Host`` headers the stats server answers: a guard against DNS rebinding.

A web page on this machine can make a name it controls resolve to 127.0.0.1 and then read the
server's answers (the camera's frames among them) as its own. Such a request carries that name
in ``Host``. So the server answers only a ``Host`` that is an IP address (never a name an
attacker can point), ``localhost``, the name it was bound to, or one given with
``--stats-allow-host``; anything else gets a 403.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

__all__ = ["LOCAL_NAMES", "allowed_hosts", "host_allowed", "host_name"]

LOCAL_NAMES = ("localhost",)


def allowed_hosts(bound: str, extra: Iterable[str] = ()) -> frozenset[str]:
    """The host names (lower case) answered besides IP addresses."""
    names = {*LOCAL_NAMES, *(name.strip().lower() for name in extra)}
    if not _is_ip(bound):
        names.add(bound.lower())
    return frozenset(name for name in names if name)


def host_name(header: str) -> str:
    """The host part of a ``Host`` header, lower case, without the port or IPv6 brackets."""
    value = header.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    name, _, _ = value.partition(":") if value.count(":") == 1 else (value, "", "")
    return name.rstrip(".")


def host_allowed(header: str | None, allowed: frozenset[str]) -> bool:
    """Whether a request with this ``Host`` header is answered (no header: an HTTP/1.0 client,
    which no browser is)."""
    if header is None:
        return True
    name = host_name(header)
    return _is_ip(name) or name in allowed


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True
