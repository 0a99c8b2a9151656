"""``--stats-port``: the stats server watching a run, started the same way for one stream or
several; its address is printed and logged."""

from __future__ import annotations

import argparse
from collections.abc import Mapping

from framepipe.cli._console import note
from framepipe.logging import Logger
from framepipe.monitor import SnapshotProvider, StatsServer, serve

__all__ = ["start_stats_server"]


def start_stats_server(
    args: argparse.Namespace, log: Logger, streams: Mapping[str, SnapshotProvider]
) -> StatsServer:
    """Serve ``streams`` on ``--stats-host:--stats-port``; OSError or RuntimeError if it cannot."""
    server = serve(
        args.stats_port, args.stats_host, logger=log, stall_s=args.stall_s, streams=streams
    )
    log.info("stats server on %s", server.url)
    note(f"stats server on {server.url}")
    return server
