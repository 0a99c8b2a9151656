"""``framepipe run A B ...``: several sources, a worker process each, supervised by this one.

``framepipe.pipeline.cli`` hands over when more than one source is given; one source still runs
in this process. Every flag of ``framepipe run`` applies to every stream: a flag whose value is a
``PipelineConfig`` field reaches each worker's config, ``--output`` gets the stream's name,
``--log-dir``/``--log-mode`` are this process's log and the workers', ``--summary-json`` is the
combined summary. Ctrl-C, SIGTERM or SIGHUP stop every worker after its current frame (a second
one kills them); the summaries are gathered and written, and the exit code is 0 when every stream
ended cleanly, 1 when any failed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from framepipe._cli_support import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    add_parsed_option,
    fail,
    non_negative_int,
    note,
    positive_int,
    print_out,
)
from framepipe._paths import OutputPath, check_outputs
from framepipe.pipeline.config import PipelineConfig
from framepipe.pipeline.output import check_output_path
from framepipe.pipeline.sources import SourceError, parse_source
from framepipe.streams.api import LIVE_RESTART_ATTEMPTS, StreamsHandle, start_streams, stream_output
from framepipe.streams.engine import ENGINES
from framepipe.streams.job import LogTarget, portable_processor
from framepipe.streams.names import stream_names
from framepipe.streams.progress import StreamsProgress
from framepipe.streams.ray_engine import (
    RAY_INSTALL_HINT,
    RayNotInstalled,
    RayStartError,
    require_ray,
)
from framepipe.streams.report import StreamsReport

__all__ = ["add_arguments", "config_from_args", "run", "run_if_several"]

_STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)
_WAIT_S = 0.25  # how often the main thread redraws the progress and checks for the end


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options for several sources (added after ``framepipe run``'s own ``SOURCE``)."""
    parser.add_argument(
        "more_sources",
        nargs="*",
        default=[],
        metavar="SOURCE",
        help="more sources: each source then runs in a worker process of its own",
    )
    parser.add_argument(
        "--name",
        action="append",
        default=None,
        metavar="NAME",
        help="a stream's name, once per source in order (default: the file stem, cam<index>, "
        "the URL's host; duplicates get a suffix)",
    )
    add_parsed_option(
        parser,
        "--cv-threads",
        positive_int,
        default=None,
        metavar="N",
        help="OpenCV threads per stream (default: the cores divided by the streams, at least 1)",
    )
    add_parsed_option(
        parser,
        "--restart-attempts",
        non_negative_int,
        default=None,
        metavar="N",
        help="restart a stream whose worker failed or died, with backoff, up to N times "
        f"(default: {LIVE_RESTART_ATTEMPTS} for cameras and streams, 0 for files)",
    )
    parser.add_argument(
        "--fail-fast",
        action="store_true",
        help="with several sources: one stream that fails stops the others",
    )
    parser.add_argument(
        "--engine",
        choices=ENGINES,
        default="local",
        help="where streams run: 'local', a worker process each (the default), or 'ray', "
        f"a Ray actor each, on a Ray cluster or a local Ray instance ({RAY_INSTALL_HINT})",
    )
    parser.add_argument(
        "--ray-address",
        default=None,
        metavar="ADDR",
        help="with --engine ray: the cluster to join ('auto', 'ray://host:10001'); default: "
        "start a local Ray instance and shut it down at the end",
    )
    add_parsed_option(
        parser,
        "--ray-cpus-per-stream",
        _cpus,
        default=None,
        metavar="N",
        help="with --engine ray: CPUs each stream's actor takes (default 1; also the default "
        "--cv-threads)",
    )


def run_if_several(args: argparse.Namespace) -> int | None:
    """Run several sources and return the exit code; None for one source (run it here)."""
    if args.more_sources or args.engine != "local":
        return run(args)
    if args.cv_threads is not None:
        import cv2

        cv2.setNumThreads(args.cv_threads)
    return None


def config_from_args(args: argparse.Namespace) -> PipelineConfig:
    """Every ``PipelineConfig`` field that has a flag of the same name, from that flag."""
    values = {
        field.name: getattr(args, field.name)
        for field in dataclasses.fields(PipelineConfig)
        if hasattr(args, field.name)
    }
    return PipelineConfig(**values)


def run(args: argparse.Namespace) -> int:
    from framepipe.pipeline.cli import DEFAULT_PROCESSOR, _import_from_cwd

    sources: list[str | None] = [args.source, *args.more_sources]
    processors: list[str] = args.processor or [DEFAULT_PROCESSOR]
    if any(":" in spec for spec in processors):
        _import_from_cwd()
    # Everything a user can get wrong is checked before a worker starts or a log is created.
    try:
        names = stream_names(sources, args.name)
        config = config_from_args(args)
        portable_processor(processors)
        _check_outputs(args, sources, names)
        ray_options = _ray_options(args)
    except (SourceError, ValueError, RayNotInstalled) as exc:
        return fail(str(exc), EXIT_USAGE)
    if args.display:
        from framepipe.pipeline.display import DisplayUnavailable, check_display

        try:
            check_display()
        except DisplayUnavailable as exc:
            return fail(str(exc), EXIT_FAILURE)

    from framepipe.logging import address as log_address
    from framepipe.logging import configure, get_logger

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
                fail_fast=args.fail_fast,
                # One log: every worker writes through this process's writer.
                log_target=LogTarget(args.log_dir, args.log_mode, address=log_address()),
                logger=get_logger("framepipe.streams"),
                **ray_options,
            )
        except RayStartError as exc:  # Ray would not start, or the cluster is out of reach
            return fail(str(exc), EXIT_FAILURE)
        return _supervise(args, handle, log)
    finally:
        log.stop()


def _ray_options(args: argparse.Namespace) -> dict[str, Any]:
    """What ``start_streams`` gets for ``--engine``; ValueError for a Ray flag without
    ``--engine ray``, RayNotInstalled (saying how to install it) when Ray is missing."""
    given = [
        flag
        for flag, value in (
            ("--ray-address", args.ray_address),
            ("--ray-cpus-per-stream", args.ray_cpus_per_stream),
        )
        if value is not None
    ]
    if args.engine != "ray":
        if given:
            raise ValueError(f"{given[0]} needs --engine ray")
        return {}
    require_ray()
    cpus = 1.0 if args.ray_cpus_per_stream is None else args.ray_cpus_per_stream
    return {"engine": "ray", "ray_address": args.ray_address, "ray_cpus_per_stream": cpus}


def _cpus(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"must be a positive number of CPUs, but got {text!r}")
    return value


def _check_outputs(
    args: argparse.Namespace, sources: Sequence[str | None], names: list[str]
) -> None:
    """Each stream's output, the summary and the log directory: usable, not a source, distinct."""
    outputs = []
    if args.output is not None:
        for name in names:
            path = stream_output(args.output, name)
            check_output_path(path)
            outputs.append(OutputPath(f"--output ({name})", path, "video"))
    if args.summary_json is not None:
        outputs.append(OutputPath("--summary-json", args.summary_json))
    outputs.append(OutputPath("--log-dir", args.log_dir, "dir"))
    files: list[str | None] = [
        str(spec.target) for spec in map(parse_source, sources) if spec.kind == "file"
    ]
    for source in files or [None]:
        check_outputs(outputs, source)


def _supervise(args: argparse.Namespace, handle: StreamsHandle, log: Any) -> int:
    progress = None if args.quiet else StreamsProgress(handle.names)
    server, problems = _stats_server(args, handle, log)
    report: StreamsReport | None = None
    with _stop_on_signals(handle.stop, handle.kill) as received:
        if problems:
            handle.stop()
        noted = False
        while report is None:
            report = handle.wait(_WAIT_S)
            if received and not noted:
                log.info("stopping every stream: %s received", received[0])
                noted = True
            if progress is not None:
                progress.update(handle.snapshot())
    if progress is not None:
        progress.close(handle.snapshot())
    if server is not None:
        server.stop()
    # Files first: a closed stdout (``| head``, a dropped terminal) must not cost the JSON.
    if args.summary_json is not None:
        problems += _write_summary(report, Path(args.summary_json))
    if not print_out(report.to_text()):
        problems.append("cannot print the summary: stdout is closed (broken pipe)")
    failed = [stream for stream in report.streams if not stream.ok]
    if failed:
        problems.append(
            f"{len(failed)} of {len(report.streams)} streams failed: "
            + ", ".join(f"{stream.stream} ({stream.error})" for stream in failed)
        )
    if problems:
        return fail("; ".join(problems))
    return EXIT_OK


def _stats_server(
    args: argparse.Namespace, handle: StreamsHandle, log: Any
) -> tuple[Any, list[str]]:
    """The stats server over every stream, when ``--stats-port`` asks for one."""
    port = getattr(args, "stats_port", None)
    if port is None:
        return None, []
    from framepipe.monitor import DEFAULT_HOST, StatsServer
    from framepipe.monitor.providers import Monitored

    host = getattr(args, "stats_host", None) or DEFAULT_HOST
    monitored = Monitored(
        streams=handle.streams, logger=log, stall_s=getattr(args, "stall_s", None)
    )
    try:
        server = StatsServer(monitored, host, port)
    except (OSError, RuntimeError) as exc:
        return None, [f"--stats-port {port}: {exc}"]
    log.info("stats server on %s", server.url)
    note(f"stats server on {server.url}")
    return server, []



def _write_summary(report: StreamsReport, path: Path) -> list[str]:
    try:
        path.write_text(json.dumps(report.to_dict(), indent=2, allow_nan=False) + "\n")
    except OSError as exc:
        return [f"cannot write --summary-json {path}: {exc.strerror or exc}"]
    except ValueError as exc:
        return [f"cannot write --summary-json {path}: {exc}"]
    return []


@contextmanager
def _stop_on_signals(stop: Callable[[], None], kill: Callable[[], None]) -> Iterator[list[str]]:
    """SIGINT, SIGTERM and SIGHUP call ``stop()``; a second one calls ``kill()``.

    The handlers only set flags; the supervisor's thread acts on them. Yields the names of the
    signals received.
    """
    received: list[str] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def handle(signum: int, frame: FrameType | None) -> None:
        received.append(signal.Signals(signum).name)
        (kill if len(received) > 1 else stop)()

    previous = {signum: signal.signal(signum, handle) for signum in _STOP_SIGNALS}
    try:
        yield received
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
