"""``--stats-port``: the stats server watching a run, started the same way for one stream or
several; its address is printed and logged.

A bind failure reads as what it means ("port 5000 is already in use"), never as an errno. A
server bound beyond loopback prints an address another machine can reach and warns, once, that
the stats and the camera previews are open to the network.
"""

from __future__ import annotations

import argparse
import errno
import ipaddress
import socket
from collections.abc import Mapping
from typing import TypeVar

from framepipe.cli._console import note
from framepipe.logging import Logger
from framepipe.monitor import (
    DEFAULT_HOST,
    ApiHandler,
    ServiceStatsProvider,
    SnapshotProvider,
    StatsServer,
    serve,
)

__all__ = [
    "StatsServerError",
    "check_stats_flags",
    "reachable_url",
    "start_stats_server",
    "stats_host",
    "stream_name",
]

_UNSPECIFIED = ("0.0.0.0", "::", "")
T = TypeVar("T")


class StatsServerError(RuntimeError):
    """The stats server could not start; the message says why in a user's words."""


def stats_host(text: str) -> str:
    """``--stats-host``: an IP address or a name that resolves (ValueError says which not)."""
    host = text.strip()
    if not host:
        raise ValueError("must be an IP address or a host name, but got an empty string")
    try:
        socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise ValueError(f"{host!r} is not an address or a name that resolves ({exc})") from None
    return host


def check_stats_flags(args: argparse.Namespace) -> str | None:
    """The usage error of stats flags given without ``--stats-port``, or None."""
    if args.stats_port is not None:
        return None
    given = (("--stats-host", args.stats_host), ("--stats-allow-host", args.stats_allow_host))
    for flag, value in given:
        if value:
            return f"{flag} needs --stats-port"
    return None


def stream_name(args: argparse.Namespace, default: T) -> str | T:
    """The one stream's name: its ``--name`` when given, else ``default``."""
    names: list[str] | None = args.name
    return names[0] if names else default


def start_stats_server(
    args: argparse.Namespace,
    log: Logger,
    streams: Mapping[str, SnapshotProvider],
    *,
    api: ApiHandler | None = None,
    service: ServiceStatsProvider | None = None,
) -> StatsServer:
    """Serve ``streams`` on ``--stats-host:--stats-port`` (and, for a service, its ``api`` and
    ``service`` counters); StatsServerError or RuntimeError if it cannot."""
    host = args.stats_host or DEFAULT_HOST
    port: int = args.stats_port
    try:
        server = serve(
            port,
            host,
            logger=log,
            stall_s=args.stall_s,
            streams=streams,
            allow_hosts=tuple(getattr(args, "stats_allow_host", None) or ()),
            api=api,
            service=service,
        )
    except OSError as exc:
        raise StatsServerError(bind_error(exc, host, port)) from None
    url = reachable_url(server)
    log.info("stats server on %s", url)
    note(f"stats server on {url}")
    if not _is_loopback(host):
        warning = (
            f"the stats server listens on {host}: its stats and the camera previews are open "
            "to the network (bind 127.0.0.1, the default, to keep them on this machine)"
        )
        log.warning("%s", warning)
        note(f"warning: {warning}")
    return server


def bind_error(exc: OSError, host: str, port: int) -> str:
    """What a failed bind means, in a user's words."""
    if exc.errno == errno.EADDRINUSE:
        return f"port {port} is already in use"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"--stats-host {host} is not an address of this machine"
    if exc.errno == errno.EACCES:
        return f"port {port} needs privileges to bind (use a port above 1023)"
    return f"cannot serve on {host}:{port}: {exc.strerror or exc}"


def reachable_url(server: StatsServer) -> str:
    """The server's URL, with an address others can use in place of 0.0.0.0 or ::."""
    host, port = server.address
    if host not in _UNSPECIFIED:
        return server.url
    reachable = _outbound_address(socket.AF_INET6 if host == "::" else socket.AF_INET)
    return f"http://[{reachable}]:{port}/" if ":" in reachable else f"http://{reachable}:{port}/"


def _outbound_address(family: socket.AddressFamily) -> str:
    """This machine's address on the route out (no packet is sent), else its host name."""
    target = "2001:db8::1" if family == socket.AF_INET6 else "192.0.2.1"  # documentation nets
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect((target, 9))
            return str(probe.getsockname()[0])
    except OSError:
        return socket.gethostname()


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except socket.gaierror:
            return False
        return all(ipaddress.ip_address(info[4][0]).is_loopback for info in infos)
