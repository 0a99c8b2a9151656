"""Several streams, a worker process each: aggregate FPS for 1, 2 and N streams of one clip.

    python benchmarks/streams.py                        # 1, 2 and 4 streams, 3 interleaved rounds
    python benchmarks/streams.py --streams 6 --repeat 5 --json streams.json
    python benchmarks/streams.py --engine local,ray     # Ray actors against workers: streams_ray.py

Every stream reads the same 720p clip (MJPG by default: FFmpeg decodes it on one thread) and runs
``edges`` in a worker process with ``--cv-threads 1`` (OpenCV's own pool off), so the cores are
what more streams can add. The variants run interleaved (1 2 N 1 2 N ...) so that machine drift
hits them alike; the table shows medians.

Figures, per variant: the aggregate FPS (every stream's frames over the span from the first frame
of any stream to the last, on the monotonic clock the workers share with this process), its ratio
to one stream and to the CPU ceiling, the throughput over the whole run with start-up included,
the workers' CPU time per frame (what starting a worker costs is measured with a one-frame run and
taken off), the worst per-stream p99 frame age, and log records lost (every frame is logged,
every worker through this process's one writer; each worker's records in the one log are checked
by their sequence numbers, and its frame records counted against the frames it processed). The CPU
ceiling is the work itself (one stream's CPU time per frame) spread over every core, as in
``pipeline_fps.py``; one stream already overlaps decoding with processing on two threads, so the
row "1 stream, 1 core" (the workers inherit this process's CPU affinity) shows what a stream
does on one core, the unit that more streams multiply. Last, the start-up: how long until
each of N streams has processed its first frame (spawning a worker imports Python, numpy and
OpenCV afresh).

Goal on a 2-core machine: 2 streams at least 1.7x the FPS of one.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from framepipe import PipelineConfig
from framepipe.logging import Logger, configure
from framepipe.streams import StreamsReport, start_streams
from pipeline_fps import CODEC_SUFFIX, load_average_warning, make_clip

GOAL_TWO_STREAMS = 1.7
_FRAME_RECORD = re.compile(r" frame (\d+): ")


@dataclass(frozen=True)
class Run:
    """One run of ``streams`` workers over the clip."""

    streams: int
    fps: float  # every frame over the span from the first frame to the last, of any stream
    throughput: float  # every frame over the wall time, start-up included
    cpu_s_per_frame: float  # CPU of every worker (reaped children) per processed frame
    worst_age_p99_ms: float
    records_lost: int


_RECORD = re.compile(r" \[(?P<stream>\S+) (?P<pid>\d+) #(?P<seq>\d+)\] ")


def records_lost(report: StreamsReport, log_file: str) -> int:
    """Records of these streams missing from the one log: gaps in each worker's sequence
    numbers, or frames processed without their record (a loss at the end leaves no gap)."""
    pids = {stream.pid: stream for stream in report.streams}
    seqs: dict[int, set[int]] = {pid: set() for pid in pids if pid is not None}
    frames: dict[int, int] = dict.fromkeys(seqs, 0)
    for path in Path(log_file).parent.glob(Path(log_file).name + "*"):
        for line in path.read_text().splitlines():
            match = _RECORD.search(line)
            if match is None or int(match["pid"]) not in seqs:
                continue
            seqs[int(match["pid"])].add(int(match["seq"]))
            frames[int(match["pid"])] += " frame " in line
    lost = 0
    for pid, numbers in seqs.items():
        gaps = max(numbers, default=0) - len(numbers)
        unlogged = pids[pid].summary.frames_processed - frames[pid]
        lost += max(gaps, unlogged)
    return lost


def run_once(
    clip: Path,
    streams: int,
    log: Logger,
    cores: set[int] | None = None,
    max_frames: int | None = None,
    startup_cpu_s: float = 0.0,
) -> Run:
    """``streams`` workers over ``clip`` with ``edges``, one OpenCV thread each.

    ``cores``: the CPUs the workers may use (they inherit this process's affinity).
    ``startup_cpu_s``: what starting one worker costs (an interpreter, numpy and OpenCV
    imported), taken off the CPU time so that ``cpu_s_per_frame`` is the frames' own.
    """
    saved = os.sched_getaffinity(0)
    if cores is not None:
        os.sched_setaffinity(0, cores)
    try:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        handle = start_streams(
            [str(clip)] * streams,
            processor="edges",
            config=PipelineConfig(log_every=1, max_frames=max_frames),
            cv_threads=1,
        )  # the workers log through this process's logger: one file
        with handle:
            report = handle.wait()
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    finally:
        os.sched_setaffinity(0, saved)
    if report is None or not report.ok:
        raise RuntimeError(f"a stream failed: {report.to_text() if report else 'no report'}")
    # The span in which frames were processed, on the clock the workers share with us.
    ends = [s.last_frame_at or 0.0 for s in handle.snapshot().values()]
    durations = [r.summary.duration_s for r in report.streams]
    starts = [end - duration for end, duration in zip(ends, durations, strict=True)]
    frames = int(report.total["frames_processed"])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    cpu -= streams * startup_cpu_s
    ages = [s.summary.frame_age_ms["p99"] for s in report.streams]
    return Run(
        streams=streams,
        fps=frames / (max(ends) - min(starts)),
        throughput=frames / wall,
        cpu_s_per_frame=cpu / max(1, frames),
        worst_age_p99_ms=max(ages),
        records_lost=records_lost(report, _flushed(log)),
    )


def _flushed(log: Logger) -> str:
    log.flush(timeout=30.0)
    return str(log.get_stats()["log_file"])


@dataclass(frozen=True)
class Variant:
    """A row of the table: how many streams, and the cores they may use (None: all)."""

    label: str
    streams: int
    cores: frozenset[int] | None = None


def variants(largest: int) -> list[Variant]:
    first_core = min(os.sched_getaffinity(0))
    rows = [Variant("1 stream, 1 core", 1, frozenset({first_core})), Variant("1 stream", 1)]
    rows += [Variant(f"{count} streams", count) for count in sorted({2, largest} - {1})]
    return rows


def measure(
    clip: Path,
    rows: Sequence[Variant],
    repeat: int,
    log: Logger,
    progress: Callable[[str], None] | None = None,
) -> dict[str, list[Run]]:
    """Every variant ``repeat`` times, interleaved."""
    runs: dict[str, list[Run]] = {row.label: [] for row in rows}
    for round_index in range(repeat):
        # One frame's run: its CPU is what starting a worker costs (taken off the others').
        one_frame = run_once(clip, 1, log, max_frames=1)
        startup_cpu_s = one_frame.cpu_s_per_frame
        for row in rows:
            if progress is not None:
                progress(f"round {round_index + 1}/{repeat}: {row.label}")
            cores = set(row.cores) if row.cores is not None else None
            run = run_once(clip, row.streams, log, cores, startup_cpu_s=startup_cpu_s)
            runs[row.label].append(run)
    return runs


@dataclass(frozen=True)
class Startup:
    """Seconds from ``start_streams`` until each stream had processed its first frame."""

    streams: int
    first_frame_s: list[float]


def first_frames(clip: Path, streams: int, engine: str = "local") -> list[float]:
    """Seconds from ``start_streams`` until each stream had processed its first frame."""
    started = time.perf_counter()
    firsts: dict[str, float] = {}
    handle = start_streams([str(clip)] * streams, processor="edges", cv_threads=1, engine=engine)
    with handle:
        while len(firsts) < streams and not handle.done:
            now = time.perf_counter() - started
            for name, snapshot in handle.snapshot().items():
                if snapshot.frames_processed > 0:
                    firsts.setdefault(name, now)
            time.sleep(0.005)
        handle.stop()
    return sorted(firsts.values())


def startup(clip: Path, streams: int) -> Startup:
    return Startup(streams, first_frames(clip, streams))


def render(rows: Sequence[Variant], runs: dict[str, list[Run]], cpus: int) -> str:
    fps = {label: statistics.median(run.fps for run in rs) for label, rs in runs.items()}
    cpu_s = {
        label: statistics.median(run.cpu_s_per_frame for run in rs) for label, rs in runs.items()
    }
    one, one_core = fps["1 stream"], fps["1 stream, 1 core"]
    # The work itself spread over every core: what no number of streams can beat.
    ceiling_fps = cpus / cpu_s["1 stream"]
    busy_one = statistics.median(run.fps * run.cpu_s_per_frame for run in runs["1 stream"])
    lines = [
        f"{'variant':17s} {'FPS':>7s} {'min':>7s} {'max':>7s} {'vs 1':>6s} {'vs 1 core':>9s}"
        f" {'of ceiling':>10s} {'cores busy':>10s} {'throughput':>10s} {'age p99 ms':>10s}"
        f" {'lost':>5s}"
    ]
    for row in rows:
        rs = runs[row.label]
        values = [run.fps for run in rs]
        busy = statistics.median(run.fps * run.cpu_s_per_frame for run in rs)
        lines.append(
            f"{row.label:17s} {fps[row.label]:7.1f} {min(values):7.1f} {max(values):7.1f}"
            f" {fps[row.label] / one:5.2f}x {fps[row.label] / one_core:8.2f}x"
            f" {fps[row.label] / ceiling_fps:10.0%} {busy:10.2f}"
            f" {statistics.median(run.throughput for run in rs):10.1f}"
            f" {max(run.worst_age_p99_ms for run in rs):10.1f}"
            f" {sum(run.records_lost for run in rs):5d}"
        )
    lines.append(
        f"CPU ceiling on {cpus} cores: {ceiling_fps:.1f} FPS (edges on this clip costs"
        f" {cpu_s['1 stream'] * 1000:.2f} CPU-ms per frame, decoding included); one stream alone"
        f" keeps {busy_one:.2f} cores busy (its reader thread decodes while its loop runs edges),"
        f" so 2 streams can gain at most {min(2.0, cpus / busy_one):.2f}x over one"
    )
    if "2 streams" in fps:
        ratio = fps["2 streams"] / one
        verdict = "met" if ratio >= GOAL_TWO_STREAMS else "MISSED"
        lines.append(
            f"2 streams / 1 stream: {ratio:.2f}x (goal >= {GOAL_TWO_STREAMS}x on 2 cores)"
            f" {verdict}; / 1 stream held to one core: {fps['2 streams'] / one_core:.2f}x"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--frames", type=int, default=300, help="frames in the 720p clip")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--streams", type=int, default=4, help="N, the largest stream count")
    parser.add_argument("--codec", choices=sorted(CODEC_SUFFIX), default="MJPG")
    parser.add_argument("--json", type=Path, default=None, help="also write the runs as JSON")
    parser.add_argument(
        "--engine",
        default="local",
        help="'local' (this table), or engines to compare at 1 and 2 streams, such as "
        "'local,ray' (benchmarks/streams_ray.py)",
    )
    args = parser.parse_args(argv)
    if args.engine != "local":
        from streams_ray import main as compare_engines

        extra = [] if args.json is None else ["--json", str(args.json)]
        frames, repeat = str(args.frames), str(args.repeat)
        return compare_engines(
            ["--engine", args.engine, "--frames", frames, "--repeat", repeat, *extra]
        )
    if args.frames < 1 or args.repeat < 1 or args.streams < 1:
        print(
            "streams: error: --frames, --repeat and --streams must be at least 1", file=sys.stderr
        )
        return 2
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cpus = cpus or 1
    rows = variants(args.streams)
    load_before = load_average_warning("the gains below")
    with tempfile.TemporaryDirectory(prefix="framepipe-streams-") as tmp:
        clip = make_clip(Path(tmp) / f"clip{CODEC_SUFFIX[args.codec]}", args.frames, args.codec)
        print(
            f"{args.frames} frames 1280x720 {args.codec}, edges, --cv-threads 1,"
            f" {args.repeat} interleaved rounds, {cpus} cores",
            file=sys.stderr,
        )
        # The application's logger: every worker's records reach its one writer.
        log = configure(log_dir=Path(tmp) / "logs", max_bytes=0)
        try:
            runs = measure(clip, rows, args.repeat, log, lambda t: print(t, file=sys.stderr))
            start = startup(clip, max(4, args.streams))
        finally:
            log.stop()
    print(render(rows, runs, cpus))
    print(
        f"start-up, {start.streams} streams: first frame after"
        f" {', '.join(f'{s:.2f}' for s in start.first_frame_s)} s"
    )
    print(f"load average before/after: {load_before:.2f}/{os.getloadavg()[0]:.2f}")
    if args.json is not None:
        payload: dict[str, Any] = {
            "frames": args.frames,
            "codec": args.codec,
            "repeat": args.repeat,
            "cpus": cpus,
            "load_before": load_before,
            "runs": {label: [asdict(run) for run in rs] for label, rs in runs.items()},
            "startup": asdict(start),
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
