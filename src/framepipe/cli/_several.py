"""``framepipe run A B ...``: several sources, a worker process (or Ray actor) each, supervised by
this one.

Every flag of ``framepipe run`` applies to every stream: a flag whose value is a
``PipelineConfig`` field reaches each worker's config, ``--output`` gets the stream's name,
``--log-dir``/``--log-mode`` are this process's log and the workers', ``--summary-json`` is the
combined summary. The first stop signal stops every worker after its current frame, a second one
kills them; the summaries are gathered and written, and the exit code is 0 when every stream
ended cleanly, 1 when any failed.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from framepipe._text import plural
from framepipe.cli._args import check_processor_imports, config_from_args
from framepipe.cli._console import EXIT_FAILURE, EXIT_USAGE, fail
from framepipe.cli._finish import finish
from framepipe.cli._monitoring import start_stats_server
from framepipe.cli._outputs import check_run_outputs, display_unavailable
from framepipe.cli._signals import stop_on_signals
from framepipe.logging import Logger, configure, get_logger
from framepipe.logging import address as log_address
from framepipe.monitor import StatsServer
from framepipe.pipeline.parallel import check_workers
from framepipe.pipeline.processors import resolve_processor
from framepipe.pipeline.results import check_results_path
from framepipe.pipeline.sources import SourceError
from framepipe.streams.api import StreamsHandle, start_streams
from framepipe.streams.job import LogTarget, portable_processor
from framepipe.streams.names import stream_names
from framepipe.streams.progress import StreamsProgress
from framepipe.streams.ray_engine import (
    RayNotInstalled,
    RayStartError,
    check_ray_address,
    require_ray,
)
from framepipe.streams.report import StreamsReport

__all__ = ["failure_line", "run"]

_WAIT_S = 0.25  # how often the main thread redraws the progress and checks for the end


def run(args: argparse.Namespace, processors: list[str]) -> int:
    """Check, configure the one log, start the streams, supervise them, and finish."""
    sources: list[str | None] = [args.source, *args.more_sources]
    # Everything a user can get wrong is checked before a worker starts or a log is created.
    try:
        names = stream_names(sources, args.name)
        config = config_from_args(args)
        check_processor_imports(processors)
        portable_processor(processors)
        resolve_processor(processors)  # a class is built once here: an __init__ that raises
        check_workers(processors, config.workers, config.worker_kind)
        if config.results is not None:
            check_results_path(config.results)  # the one file, written by this process
        check_run_outputs(args, sources, names)
        ray_options = _ray_options(args)
    except (SourceError, ValueError, RayNotInstalled) as exc:
        return fail(str(exc), EXIT_USAGE)
    except RayStartError as exc:  # nothing answers at --ray-address: said before a log exists
        return fail(str(exc), EXIT_FAILURE)
    no_display = display_unavailable(args)
    if no_display is not None:
        return fail(no_display, EXIT_FAILURE)
    try:
        log = configure(log_dir=args.log_dir, mode=args.log_mode)
    except (ValueError, OSError) as exc:
        return fail(f"--log-dir {args.log_dir}: {exc}", EXIT_USAGE)
    try:
        try:
            handle = start_streams(
                sources,
                processors,
                config,
                names,
                cv_threads=args.cv_threads,
                restart_attempts=args.restart_attempts,
                hang_timeout_s=args.hang_timeout_s,
                fail_fast=args.fail_fast,
                # One log: every worker writes through this process's writer.
                log_target=LogTarget(args.log_dir, args.log_mode, address=log_address()),
                logger=get_logger("framepipe.streams"),
                start=False,  # the stats server binds its port first
                **ray_options,
            )
        except RayStartError as exc:  # Ray would not start, or the cluster is out of reach
            log.error("%s", exc)  # the log says why it holds nothing else
            return fail(str(exc), EXIT_FAILURE)
        server: StatsServer | None = None
        if args.stats_port is not None:
            try:
                server = start_stats_server(args, log, handle.streams)
            except (OSError, RuntimeError) as exc:
                handle.close()
                return fail(f"--stats-port {args.stats_port}: {exc}", EXIT_FAILURE)
        try:
            handle.start()
            return _supervise(args, handle, log)
        finally:
            if server is not None:
                server.stop()
    finally:
        log.stop()


def _ray_options(args: argparse.Namespace) -> dict[str, Any]:
    """What ``start_streams`` gets for ``--engine ray``; RayNotInstalled (saying how to install
    it) when Ray is missing, RayStartError when nothing answers at ``--ray-address``."""
    if args.engine != "ray":
        return {}
    require_ray()
    check_ray_address(args.ray_address)
    cpus = 1.0 if args.ray_cpus_per_stream is None else args.ray_cpus_per_stream
    return {"engine": "ray", "ray_address": args.ray_address, "ray_cpus_per_stream": cpus}


def _supervise(args: argparse.Namespace, handle: StreamsHandle, log: Logger) -> int:
    progress = None if args.quiet else StreamsProgress(handle.names)
    report = supervise(handle, log, progress)
    if progress is not None:
        progress.close(handle.snapshot())
    return finish_streams(report, args.summary_json)


def supervise(
    handle: StreamsHandle,
    log: Logger,
    progress: StreamsProgress | None = None,
    reload: Callable[[], object] | None = None,
) -> StreamsReport:
    """Wait for the end: the first stop signal stops every stream, a second one kills them.

    With ``reload`` (a service), SIGHUP calls it instead, from this thread, between waits.
    """
    report: StreamsReport | None = None
    reloads: list[int] = []  # SIGHUPs not yet acted on (a handler only notes them)

    def stop(signum: int) -> None:
        handle.stop()

    def kill(signum: int) -> None:
        handle.kill()

    with stop_on_signals(stop, kill, None if reload is None else reloads.append) as received:
        noted = False
        while report is None:
            report = handle.wait(_WAIT_S)
            if received and not noted:
                log.info("stopping every stream: %s received", received[0])
                noted = True
            if reloads and reload is not None and report is None and not received:
                reloads.clear()  # SIGHUPs that came together are one reload
                log.info("reloading: SIGHUP received")
                reload()
            if progress is not None:
                progress.update(handle.snapshot())
    return report


def finish_streams(report: StreamsReport, summary_json: str | None) -> int:
    """Print and write the summary of several streams; the exit code says whether any failed."""
    failure = failure_line(report)
    return finish(report, summary_json, [], [] if failure is None else [failure])


def failure_line(report: StreamsReport) -> str | None:
    """``"1 of 3 streams failed: cam1 (why)"``; None when every stream ended cleanly."""
    failed = [stream for stream in report.streams if not stream.ok]
    if not failed:
        return None
    return (
        f"{len(failed)} of {plural(len(report.streams), 'stream')} failed: "
        + ", ".join(f"{stream.stream} ({stream.error})" for stream in failed)
    )
