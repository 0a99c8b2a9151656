"""``framepipe run``: process a camera, video file, stream or the synthetic scene.

One source runs in this process; several run a worker process (or, with ``--engine ray``, a Ray
actor) each, supervised by this one, with one log. This module declares the flags, checks what a
user can get wrong before anything opens, and hands over to :mod:`framepipe.cli._single` or
:mod:`framepipe.cli._several`.

Exit codes: 0 done (end of source, ``--max-frames``, or Ctrl-C/SIGTERM/SIGHUP after a clean
stop), 1 runtime failure, 2 usage error (a bad flag, source or output path). Every error is one
line on stderr, without a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys

from framepipe._camera import check_fourcc, parse_camera_size
from framepipe._native_logging import quiet_native_logging
from framepipe.cli import _several, _single
from framepipe.cli._args import (
    add_engine_arguments,
    add_parsed_option,
    camera_fps,
    camera_from_args,
    engine_flags_usage,
    non_negative_float,
    non_negative_int,
    port_number,
    positive_float,
    positive_int,
)
from framepipe.cli._console import EXIT_USAGE, fail
from framepipe.cli._monitoring import check_stats_flags, stats_host
from framepipe.pipeline.buffer import DROP_POLICIES
from framepipe.pipeline.config import ON_ERROR, WORKER_KINDS
from framepipe.pipeline.output import CODECS
from framepipe.pipeline.processors import PROCESSOR_NAMES
from framepipe.pipeline.sources import (
    SourceError,
    check_camera_source,
    check_loop_source,
    parse_source,
)
from framepipe.streams.api import LIVE_RESTART_ATTEMPTS

__all__ = ["DEFAULT_PROCESSOR", "EPILOG", "add_arguments", "run"]

DEFAULT_PROCESSOR = "motion"

EPILOG = """\
examples:
  framepipe run                                   the built-in scene: 300 frames, as fast as they go
  framepipe run samples/sample.mp4 --realtime     a file, paced at its own frame rate
  framepipe run 0 --stats-port 5000               webcam 0, watched on http://127.0.0.1:5000/
  framepipe run a.mp4 b.mp4 --summary-json s.json several sources: a worker process each
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Every flag of ``framepipe run``, for one source or several."""
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
        "--realtime",
        action="store_true",
        help="pace a file or the synthetic scene at its own FPS, like a camera "
        "(default: as fast as frames decode)",
    )
    parser.add_argument(
        "--loop",
        action="store_true",
        help="a file or the synthetic scene starts again at its end, frame indexes counting "
        "on, until --max-frames or a stop (not for cameras and streams)",
    )
    add_parsed_option(
        parser,
        "--camera-size",
        parse_camera_size,
        default=None,
        metavar="WxH",
        help="ask a camera for this frame size before its first read (the summary shows what "
        "it delivers; one WARNING when it does not honour it)",
    )
    add_parsed_option(
        parser,
        "--camera-fps",
        camera_fps,
        default=None,
        metavar="N",
        help="ask a camera for this frame rate",
    )
    add_parsed_option(
        parser,
        "--camera-fourcc",
        check_fourcc,
        default=None,
        metavar="CODE",
        help="ask a camera for this pixel format (MJPG, YUYV, H264, ...)",
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
        "--results",
        metavar="FILE.jsonl",
        default=None,
        help="write what processors return beside the frame as one JSON line per frame "
        "(stream, frame, t, results), off the frame loop; '-': stdout; one file for every "
        "stream",
    )
    add_parsed_option(
        parser,
        "--workers",
        positive_int,
        default=1,
        metavar="K",
        help="run K copies of the processor chain on frames in parallel, outputs in frame "
        "order (default: %(default)s)",
    )
    parser.add_argument(
        "--worker-kind",
        choices=WORKER_KINDS,
        default="thread",
        help="with --workers: threads (processors that release the GIL: OpenCV, numpy) or "
        "processes (pure-Python work; frames in shared memory) (default: %(default)s)",
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
    add_parsed_option(
        parser,
        "--stats-host",
        stats_host,
        default=None,
        metavar="HOST",
        help="address the stats server binds (default: 127.0.0.1, this machine only; "
        "0.0.0.0 opens the stats and previews to the network)",
    )
    parser.add_argument(
        "--stats-allow-host",
        action="append",
        default=None,
        metavar="NAME",
        help="a host name the stats server answers to besides IP addresses and localhost "
        "(repeat for more); other names get 403, a guard against DNS rebinding",
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
    add_parsed_option(
        parser,
        "--hang-timeout-s",
        non_negative_float,
        default=30.0,
        metavar="S",
        help="a frame loop that makes no progress for S seconds while it runs is hung: a "
        "worker is killed and restarted as a failed one; one source logs its stack "
        "(default: %(default)s; 0: off)",
    )
    parser.add_argument(
        "--fail-fast",
        action="store_true",
        help="with several sources: one stream that fails stops the others",
    )
    add_engine_arguments(parser, cpus_also="also the default --cv-threads")


def run(args: argparse.Namespace) -> int:
    """Run ``framepipe run``: one source here, several under a supervisor."""
    quiet_native_logging()
    processors: list[str] = args.processor or [DEFAULT_PROCESSOR]
    if any(":" in spec for spec in processors):
        _import_from_cwd()
    engine_usage = engine_flags_usage(args)
    if engine_usage is not None:
        return fail(engine_usage, EXIT_USAGE)
    stats_usage = check_stats_flags(args)
    if stats_usage is not None:
        return fail(stats_usage, EXIT_USAGE)
    source_usage = _source_usage(args)
    if source_usage is not None:
        return fail(source_usage, EXIT_USAGE)
    if args.more_sources or args.engine != "local":
        return _several.run(args, processors)
    return _single.run(args, processors)


def _source_usage(args: argparse.Namespace) -> str | None:
    """``--loop`` with a camera or stream among the sources (they have no start to go back to),
    or ``--camera-*`` with a file or stream (they cannot be asked). A source that does not
    parse is left for the run's own checks to report."""
    camera = camera_from_args(args)
    for spec in (args.source, *args.more_sources):
        try:
            parsed = parse_source(spec)
        except SourceError:
            continue
        try:
            check_loop_source(parsed, args.loop)
        except SourceError as exc:
            return f"--loop: {exc}"
        try:
            check_camera_source(parsed, camera)
        except SourceError as exc:
            return str(exc)
    return None


def _import_from_cwd() -> None:
    """Make modules in the current directory importable, as ``python -m`` and ``-c`` do (the
    console script's own directory is on the path instead)."""
    cwd = os.getcwd()
    if "" not in sys.path and cwd not in sys.path:
        sys.path.insert(0, cwd)
