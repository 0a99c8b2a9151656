"""``framepipe run``: process a camera, video file, stream or the synthetic scene in real time.

This is the application: the one place that configures logging (``--log-dir``, ``--log-mode``);
the ``Pipeline`` logs through whatever is configured. ``--processor`` takes built-in names and
import paths (``package.module:function`` or ``:Class``); the current directory is importable,
as with ``python -m``.

Exit codes: 0 done (end of source, ``--max-frames``, or Ctrl-C/SIGTERM/SIGHUP after a clean
stop), 1 runtime failure, 2 usage error (a bad flag, source or output path). Every error is one
line on stderr, without a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from framepipe._cli_support import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    add_parsed_option,
    fail,
    non_negative_int,
    note,
    port_number,
    positive_float,
    positive_int,
    print_out,
)
from framepipe._native_logging import quiet_native_logging
from framepipe._paths import OutputPath, check_outputs
from framepipe.pipeline.buffer import DROP_POLICIES
from framepipe.pipeline.config import ON_ERROR, PipelineConfig
from framepipe.pipeline.display import DisplayUnavailable, check_display
from framepipe.pipeline.output import CODECS, OutputError, check_output_path
from framepipe.pipeline.processors import PROCESSOR_NAMES, check_processor
from framepipe.pipeline.progress import ProgressReporter
from framepipe.pipeline.report import PipelineReport
from framepipe.pipeline.runner import Pipeline, PipelineError
from framepipe.pipeline.sources import (
    OpenCancelled,
    Source,
    SourceError,
    open_source,
    parse_source,
)

if TYPE_CHECKING:
    from framepipe.monitor import StatsServer

__all__ = ["add_arguments", "run"]

# SIGHUP does not exist on Windows.
_STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)
DEFAULT_PROCESSOR = "motion"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "source",
        nargs="?",
        default=None,
        metavar="SOURCE",
        help="camera index (0), video file, rtsp/http(s)/tcp/udp URL, or "
        "'synthetic[:WxH@FPS:SECONDS]' (default: the built-in 1280x720@30:10 scene)",
    )
    parser.add_argument(
        "--processor",
        action="append",
        default=None,
        metavar="NAME|MODULE:ATTR",
        help=f"a built-in ({', '.join(PROCESSOR_NAMES)}) or an import path "
        "package.module:function or package.module:Class; repeat to chain them in order "
        f"(default: {DEFAULT_PROCESSOR})",
    )
    add_parsed_option(
        parser,
        "--budget-ms",
        positive_float,
        default=None,
        metavar="MS",
        help="per-frame budget (default: 1000 / source FPS, or 33.3)",
    )
    add_parsed_option(
        parser,
        "--log-every",
        positive_int,
        default=30,
        metavar="N",
        help="log every Nth frame (default: %(default)s)",
    )
    parser.add_argument(
        "--log-dir", default="logs", metavar="DIR", help="log directory (default: %(default)s)"
    )
    parser.add_argument(
        "--log-mode",
        choices=("async", "sync"),
        default="async",
        help="async: non-blocking queue logger; sync: write on the frame loop, for comparison",
    )
    parser.add_argument(
        "--output",
        metavar="FILE",
        default=None,
        help=f"write processed frames as a video ({', '.join(CODECS)})",
    )
    parser.add_argument("--display", action="store_true", help="show frames (q or Esc quits)")
    parser.add_argument(
        "--realtime", action="store_true", help="pace a file at its native FPS, like a camera"
    )
    parser.add_argument(
        "--drop-policy",
        choices=DROP_POLICIES,
        default=None,
        help="block: every frame (default for files); latest: only the newest frame, skipped "
        "frames counted (default for cameras and streams)",
    )
    add_parsed_option(
        parser,
        "--max-frames",
        positive_int,
        default=None,
        metavar="N",
        help="stop after N frames",
    )
    add_parsed_option(
        parser,
        "--stall-timeout-s",
        positive_float,
        default=5.0,
        metavar="S",
        help="a stream with no frame for S seconds counts as dropped (default: %(default)s)",
    )
    add_parsed_option(
        parser,
        "--reconnect-attempts",
        non_negative_int,
        default=None,
        metavar="N",
        help="failed reconnects in a row before a dropped camera or stream ends the run with "
        "exit 1 (default: unlimited; 0: no reconnecting; files never reconnect)",
    )
    add_parsed_option(
        parser,
        "--reconnect-max-s",
        positive_float,
        default=30.0,
        metavar="S",
        help="longest wait between reconnect attempts, which start at 0.5 s and double "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--on-error",
        choices=ON_ERROR,
        default="stop",
        help="a processor exception: stop the run (exit 1), or skip the frame, log it and go "
        "on (default: %(default)s)",
    )
    add_parsed_option(
        parser,
        "--max-consecutive-failures",
        positive_int,
        default=30,
        metavar="N",
        help="with --on-error skip, N failed frames in a row stop the run anyway "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--summary-json", metavar="FILE", default=None, help="write the run summary as JSON"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar or status line")
    add_parsed_option(
        parser,
        "--stats-port",
        port_number,
        default=None,
        metavar="PORT",
        help="serve /system-resources, /metrics, /healthz, /readyz and a dashboard on PORT "
        "(0: a free port; the address is printed and logged)",
    )
    parser.add_argument(
        "--stats-host",
        default="127.0.0.1",
        metavar="HOST",
        help="address the stats server binds (default: %(default)s, this machine only)",
    )
    add_parsed_option(
        parser,
        "--stall-s",
        positive_float,
        default=None,
        metavar="S",
        help="/readyz answers 503 once the last frame is S seconds old "
        "(default: 3 s or 10 budgets, whichever is longer)",
    )
    from framepipe.streams.cli import add_arguments as add_stream_arguments

    add_stream_arguments(parser)  # SOURCE ...: more sources, a worker process each


def run(args: argparse.Namespace) -> int:
    quiet_native_logging()
    from framepipe.streams.cli import run_if_several

    several = run_if_several(args)  # more than one source: a worker process per stream
    if several is not None:
        return several
    processors: list[str] = args.processor or [DEFAULT_PROCESSOR]
    if any(":" in spec for spec in processors):
        _import_from_cwd()
    # Everything a user can get wrong is checked before anything is opened or written.
    try:
        _check_arguments(args)
        check_processor(processors)  # imports now, so a typo costs no camera or stream open
    except (SourceError, ValueError) as exc:
        return fail(str(exc), EXIT_USAGE)
    if args.display:
        try:
            check_display()
        except DisplayUnavailable as exc:
            return fail(str(exc), EXIT_FAILURE)
    # The source opens before the log file is created, so a source that does not open leaves
    # no empty log behind.
    try:
        source = _open_source(args.source, args.stall_timeout_s)
    except SourceError as exc:
        return fail(str(exc), EXIT_FAILURE)
    progress = None if args.quiet else ProgressReporter()
    try:
        config = PipelineConfig(
            budget_ms=args.budget_ms,
            log_every=args.log_every,
            output=args.output,
            display=args.display,
            realtime=args.realtime,
            drop_policy=args.drop_policy,
            max_frames=args.max_frames,
            stall_timeout_s=args.stall_timeout_s,
            reconnect_attempts=args.reconnect_attempts,
            reconnect_max_s=args.reconnect_max_s,
            on_error=args.on_error,
            max_consecutive_failures=args.max_consecutive_failures,
        )
        # The pipeline logs through get_logger("framepipe.pipeline"), which follows the
        # configure() below; building it first means a bad option leaves no empty log file.
        pipeline = Pipeline(source, processor=processors, config=config, progress=progress)
    except ValueError as exc:
        source.release()
        return fail(str(exc), EXIT_USAGE)

    from framepipe.logging import configure

    try:
        log = configure(log_dir=args.log_dir, mode=args.log_mode)
    except (ValueError, OSError) as exc:
        source.release()
        return fail(f"--log-dir {args.log_dir}: {exc}", EXIT_USAGE)
    summary_json = Path(args.summary_json) if args.summary_json else None
    try:
        server = _stats_server(args, pipeline, log) if args.stats_port is not None else None
    except (OSError, RuntimeError) as exc:
        log.stop()
        source.release()
        return fail(f"--stats-port {args.stats_port}: {exc}", EXIT_FAILURE)
    try:
        return _run_pipeline(pipeline, progress, summary_json, log)
    finally:
        if server is not None:
            server.stop()
        log.stop()


def _stats_server(args: argparse.Namespace, pipeline: Pipeline, log: Any) -> StatsServer:
    """The stats server watching this run; its address is printed and logged."""
    from framepipe.monitor import serve

    server = serve(
        args.stats_port, args.stats_host, pipeline=pipeline, logger=log, stall_s=args.stall_s
    )
    log.info("stats server on %s", server.url)
    note(f"stats server on {server.url}")
    return server


def _check_arguments(args: argparse.Namespace) -> None:
    """Check the source spec and every output path: SourceError or ValueError (PathError)."""
    spec = parse_source(args.source)
    outputs = []
    if args.output is not None:
        check_output_path(args.output)
        outputs.append(OutputPath("--output", args.output, "video"))
    if args.summary_json is not None:
        outputs.append(OutputPath("--summary-json", args.summary_json))
    outputs.append(OutputPath("--log-dir", args.log_dir, "dir"))
    check_outputs(outputs, str(spec.target) if spec.kind == "file" else None)


def _import_from_cwd() -> None:
    """Make modules in the current directory importable, as ``python -m`` and ``-c`` do (the
    console script's own directory is on the path instead)."""
    cwd = os.getcwd()
    if "" not in sys.path and cwd not in sys.path:
        sys.path.insert(0, cwd)


def _open_source(spec: str | None, stall_timeout_s: float) -> Source:
    """Open the source; Ctrl-C, SIGTERM or SIGHUP while a camera or stream opens ends the wait."""
    with _stop_on_signals(lambda: None) as received:
        try:
            return open_source(
                spec, read_timeout_s=stall_timeout_s, cancelled=lambda: bool(received)
            )
        except KeyboardInterrupt:  # a second signal, raised by the handler in the wait
            raise OpenCancelled(f"stopped while opening {spec}") from None


def _run_pipeline(
    pipeline: Pipeline,
    progress: ProgressReporter | None,
    summary_json: Path | None,
    log: Any,
) -> int:
    report: PipelineReport | None = None
    failure: str | None = None
    with _stop_on_signals(pipeline.stop) as received:
        try:
            report = pipeline.run()
        except (SourceError, OutputError) as exc:
            failure = str(exc)
        except PipelineError as exc:
            failure, report = str(exc), exc.report
        finally:
            if progress is not None:
                try:
                    progress.close()
                except OSError:
                    pass  # the terminal is gone (SIGHUP): the summary still gets written
    if received:
        log.info("stopped by %s", received[0])
        log.flush(timeout=5.0)
    problems = [failure] if failure is not None else []
    if report is not None:
        # Files first: a closed stdout (``| head``, a dropped terminal) must not cost the JSON.
        if summary_json is not None:
            problems += _write_summary(report, summary_json)
        if not print_out(report.to_text()):
            problems.append("cannot print the summary: stdout is closed (broken pipe)")
    if not problems and report is not None and report.truncated:
        info = report.source_info
        expected = info.frame_count if info else None
        return fail(
            f"truncated video: {report.source} ended after {report.frames_read} of "
            f"{expected} frames (processed what decoded)"
        )
    if problems:
        return fail("; ".join(problems))
    return EXIT_OK


def _write_summary(report: PipelineReport, path: Path) -> list[str]:
    """Write the summary JSON (strict: no NaN or Infinity); the problem, if any, as a list."""
    try:
        path.write_text(json.dumps(report.to_dict(), indent=2, allow_nan=False) + "\n")
    except OSError as exc:
        return [f"cannot write --summary-json {path}: {exc.strerror or exc}"]
    except ValueError as exc:  # a value JSON cannot represent
        return [f"cannot write --summary-json {path}: {exc}"]
    return []


@contextmanager
def _stop_on_signals(stop: Callable[[], None]) -> Iterator[list[str]]:
    """Turn SIGINT, SIGTERM and SIGHUP into ``stop()`` for the duration; a second signal aborts.

    SIGHUP (the terminal closed, an SSH session dropped) would otherwise kill the run without a
    summary and leave an unplayable MP4. Yields the list of received signal names. Installed
    after the logger is configured, and restored before it stops, so the logger's own handlers
    stay intact around the run.
    """
    received: list[str] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def handle(signum: int, frame: FrameType | None) -> None:
        received.append(signal.Signals(signum).name)
        if len(received) > 1:
            raise KeyboardInterrupt  # a second Ctrl-C: stop waiting for the current frame
        stop()

    previous: dict[signal.Signals, Callable[[int, FrameType | None], Any] | int | None] = {}
    for stop_signal in _STOP_SIGNALS:
        previous[stop_signal] = signal.signal(stop_signal, handle)
    try:
        yield received
    finally:
        for stop_signal, handler in previous.items():
            signal.signal(stop_signal, handler if handler is not None else signal.SIG_DFL)
