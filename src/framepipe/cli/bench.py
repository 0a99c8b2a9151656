"""``framepipe bench``: what sync and async logging cost a frame loop, measured side by side.

A stop signal ends the benchmark at once: it unwinds through every ``finally`` (modes stopped,
sinks closed, the work directory removed) and the exit code is 128 + the signal's number; later
signals are ignored so they cannot cut that cleanup short.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from importlib.util import find_spec
from pathlib import Path

from framepipe._native_logging import quiet_native_logging
from framepipe._paths import OutputPath, PathError, check_outputs
from framepipe._text import plural
from framepipe.bench.modes import DEFAULT_MODE_NAMES, create_modes, parse_modes
from framepipe.bench.runner import DEFAULT_BUDGET_MS, BenchConfig, PlannedRun, run_benchmark
from framepipe.bench.sinks import SinkSpec, parse_sinks
from framepipe.bench.workload import DEFAULT_PROCESSOR, DEFAULT_SOURCE, Workload
from framepipe.cli._args import add_budget_ms, add_parsed_option, positive_int
from framepipe.cli._console import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, fail, print_out
from framepipe.cli._signals import Interrupted, ignore, raise_interrupt, stop_on_signals
from framepipe.pipeline.processors import PROCESSOR_NAMES
from framepipe.pipeline.sources import SourceError

__all__ = ["EPILOG", "add_arguments", "run"]

EPILOG = """\
examples:
  framepipe bench                                  every mode, every sink, 5 repeats
  framepipe bench --frames 100 --repeat 3 --sink file --json bench.json
"""

_DEFAULT_LOG_EVERY: tuple[int, ...] = (1, 10, 30)


def _log_every_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(positive_int(item.strip()) for item in text.split(","))
    except ValueError:
        raise ValueError(f"must be positive integers like 1,10,30, but got {text!r}") from None
    if len(set(values)) != len(values):
        raise ValueError(f"must be distinct, but got {text!r}")
    return values


def _sink_list(text: str) -> tuple[SinkSpec, ...]:
    return tuple(parse_sinks(text))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--source",
        default=DEFAULT_SOURCE,
        metavar="SRC",
        help=f"frames to process, decoded once into memory (default: {DEFAULT_SOURCE})",
    )
    parser.add_argument(
        "--processor",
        default=DEFAULT_PROCESSOR,
        choices=PROCESSOR_NAMES,
        metavar="NAME",
        help=f"built-in processor run on every frame: {', '.join(PROCESSOR_NAMES)} "
        f"(default: {DEFAULT_PROCESSOR})",
    )
    option = partial(add_parsed_option, parser)
    option("--frames", positive_int, default=300, metavar="N", help="frames per run (default: 300)")
    option(
        "--log-every",
        _log_every_list,
        default=_DEFAULT_LOG_EVERY,
        metavar="LIST",
        help="log every Nth frame, comma-separated rates (default: 1,10,30)",
    )
    option(
        "--sink",
        _sink_list,
        default=_sink_list("file,slow:5"),
        metavar="LIST",
        help="file, fsync (fsync per record) or slow:MS (MS ms per write) (default: file,slow:5)",
    )
    option(
        "--modes",
        parse_modes,
        default=list(DEFAULT_MODE_NAMES),
        metavar="LIST",
        help=f"among {','.join(DEFAULT_MODE_NAMES)}; 'none' (the baseline) is always run; "
        "modes whose package is missing are reported as skipped (default: all)",
    )
    option(
        "--repeat",
        positive_int,
        default=5,
        metavar="R",
        help="runs per mode, interleaved A B C A B C ... (default: 5)",
    )
    add_budget_ms(
        parser, default=DEFAULT_BUDGET_MS, help="per-frame budget (default: 33.3, i.e. 30 FPS)"
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the full report as JSON")
    parser.add_argument("--plot", type=Path, metavar="FILE", help="write a PNG (needs matplotlib)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _check_outputs(args: argparse.Namespace) -> None:
    """Refuse --json/--plot paths that could not be written, before the benchmark runs:
    PathError when one is the source, both are one file, or one is not writable."""
    if args.plot is not None and args.plot.suffix.lower() != ".png":
        raise PathError(f"--plot must name a .png file, but got {str(args.plot)!r}")
    outputs = [
        OutputPath(flag, str(path))
        for flag, path in (("--json", args.json), ("--plot", args.plot))
        if path is not None
    ]
    source_file = args.source if os.path.isfile(args.source) else None
    check_outputs(outputs, source_file)


def run(args: argparse.Namespace) -> int:
    """Load the workload, run every mode, print the table and verdicts, write JSON/PNG."""
    quiet_native_logging()
    try:
        _check_outputs(args)
    except PathError as exc:
        return fail(str(exc), EXIT_USAGE)
    if args.plot is not None and find_spec("matplotlib") is None:
        return fail("--plot needs matplotlib: pip install 'framepipe[plot]'", EXIT_USAGE)

    config = BenchConfig(
        frames=args.frames,
        repeat=args.repeat,
        log_every=tuple(args.log_every),
        sinks=tuple(args.sink),
        budget_ms=args.budget_ms,
    )
    modes = create_modes(args.modes)
    total = len(config.sinks) * len(config.log_every) * config.repeat
    total *= sum(1 for mode in modes if mode.unavailable_reason() is None)

    from tqdm import tqdm

    completed = 0
    try:
        with stop_on_signals(raise_interrupt, ignore), _work_directory() as directory:
            try:
                workload = Workload.load(args.source, args.processor, frames=args.frames)
            except (SourceError, ValueError) as exc:  # as ``framepipe run``: a usage error
                return fail(str(exc), EXIT_USAGE)
            with tqdm(
                total=total, desc="bench", unit="run", disable=args.quiet, leave=False
            ) as bar:

                def advance(planned: PlannedRun) -> None:
                    nonlocal completed
                    completed += 1
                    bar.set_postfix_str(
                        f"{planned.sink.label} every {planned.log_every} {planned.mode.name}",
                        refresh=False,
                    )
                    bar.update(1)

                result = run_benchmark(
                    workload, config, modes, on_run=advance, directory=directory
                )
    except Interrupted as stop:
        return fail(
            f"interrupted by {stop.name} after {completed} of {plural(total, 'run')}",
            stop.exit_code,
        )

    from framepipe.bench.report import format_report, machine_info, to_json_dict, write_json
    from framepipe.bench.rows import result_rows

    machine = machine_info()
    rows = result_rows(result)
    outputs: list[tuple[str, Path, Callable[[Path], None]]] = []
    if args.json is not None:
        report = to_json_dict(result, machine)
        outputs.append(("--json", args.json, lambda path: write_json(report, path)))
    if args.plot is not None:
        from framepipe.bench.plot import write_plot

        outputs.append(("--plot", args.plot, lambda path: write_plot(result, rows, path)))
    # Files first: a reader gone from stdout (``| head``) must not cost the report.
    problems: list[str] = []
    for flag, path, write in outputs:
        try:
            write(path)
        except OSError as exc:  # checked before the run, but a disk can still fill up meanwhile
            problems.append(f"cannot write {flag} {path}: {exc.strerror or exc}")
    problem = print_out(format_report(result, rows, machine), "the report")
    if problem is not None:
        problems.append(problem)
    return fail("; ".join(problems), EXIT_FAILURE) if problems else EXIT_OK


@contextmanager
def _work_directory() -> Iterator[Path]:
    """One temporary directory for all runs' files, removed on every way out."""
    path = Path(tempfile.mkdtemp(prefix="framepipe-bench-"))
    try:
        yield path
    finally:
        try:
            shutil.rmtree(path, ignore_errors=True)
        except Interrupted:
            # The first stop signal landed inside the removal; later ones are ignored, so
            # finish it before passing the stop on.
            shutil.rmtree(path, ignore_errors=True)
            raise
