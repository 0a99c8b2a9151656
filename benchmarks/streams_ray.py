"""The Ray engine against the local one: aggregate FPS of 1 and 2 streams of one clip.

    python benchmarks/streams_ray.py                    # 3 interleaved rounds
    python benchmarks/streams.py --engine local,ray     # the same, from the streams benchmark
    python benchmarks/streams_ray.py --repeat 5 --json ray.json

A local Ray instance with 2 CPUs (started once; its start-up time is reported) runs each stream
in an actor that takes one CPU; the local engine runs a worker process each. Every stream reads
the same 720p clip (MJPG) and runs ``edges`` with ``--cv-threads 1``, and logs every frame
through this process's one writer (the actors over Ray, the workers over the log channel's
socket). The variants run interleaved (local 1, ray 1, local 2, ray 2, ...) so that machine
drift hits them alike; the table shows medians.

Figures, per variant: the aggregate FPS (every stream's frames over the span from the first frame
of any stream to the last, on this process's clock: an actor's clock is moved onto it), the
throughput over the whole run with start-up included, the worst per-stream p99 frame age, and
log records lost (gaps in each worker's or actor's sequence numbers in the one log, and frames
processed without their record). Last, the start-up of 2 streams on each engine: how long until
each stream processed its first frame.

Goal: Ray at 2 streams at least 0.9x the local engine's FPS at 2 streams; records lost 0.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
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
from framepipe.streams import start_streams
from pipeline_fps import CODEC_SUFFIX, make_clip
from streams import first_frames, records_lost

ENGINES = ("local", "ray")
GOAL_RAY_VS_LOCAL = 0.9
RAY_CPUS = 2
RAY_OBJECT_STORE_BYTES = 100 * 2**20


@dataclass(frozen=True)
class Run:
    """One run of ``streams`` streams on ``engine``."""

    engine: str
    streams: int
    fps: float  # every frame over the span from the first frame to the last, of any stream
    throughput: float  # every frame over the wall time, start-up included
    worst_age_p99_ms: float
    records_lost: int | None  # None unless every frame is logged (it counts frame records)


def run_once(clip: Path, streams: int, engine: str, log: Logger, log_every: int = 1) -> Run:
    started = time.perf_counter()
    handle = start_streams(
        [str(clip)] * streams,
        processor="edges",
        config=PipelineConfig(log_every=log_every),
        cv_threads=1,
        engine=engine,
    )
    with handle:
        report = handle.wait()
    wall = time.perf_counter() - started
    if report is None or not report.ok:
        raise RuntimeError(f"a stream failed: {report.to_text() if report else 'no report'}")
    ends = [s.last_frame_at or 0.0 for s in handle.snapshot().values()]
    durations = [r.summary.duration_s for r in report.streams]
    starts = [end - duration for end, duration in zip(ends, durations, strict=True)]
    frames = int(report.total["frames_processed"])
    log.flush(timeout=30.0)
    return Run(
        engine=engine,
        streams=streams,
        fps=frames / (max(ends) - min(starts)),
        throughput=frames / wall,
        worst_age_p99_ms=max(s.summary.frame_age_ms["p99"] for s in report.streams),
        records_lost=(
            records_lost(report, str(log.get_stats()["log_file"])) if log_every == 1 else None
        ),
    )


def measure(
    clip: Path,
    engines: Sequence[str],
    repeat: int,
    log: Logger,
    progress: Callable[[str], None],
    log_every: int = 1,
) -> dict[tuple[str, int], list[Run]]:
    runs: dict[tuple[str, int], list[Run]] = {}
    for round_index in range(repeat):
        for streams in (1, 2):
            for engine in engines:
                progress(f"round {round_index + 1}/{repeat}: {engine}, {streams} streams")
                run = run_once(clip, streams, engine, log, log_every)
                runs.setdefault((engine, streams), []).append(run)
    return runs


def render(runs: dict[tuple[str, int], list[Run]]) -> str:
    fps = {key: statistics.median(run.fps for run in rs) for key, rs in runs.items()}
    lines = [
        f"{'engine':7s} {'streams':>7s} {'FPS':>7s} {'min':>7s} {'max':>7s} {'vs local':>8s}"
        f" {'throughput':>10s} {'age p99 ms':>10s} {'lost':>5s}"
    ]
    for (engine, streams), rs in sorted(runs.items(), key=lambda item: (item[0][1], item[0][0])):
        local = fps.get(("local", streams))
        versus = f"{fps[engine, streams] / local:7.2f}x" if local else f"{'-':>8s}"
        values = [run.fps for run in rs]
        lines.append(
            f"{engine:7s} {streams:7d} {fps[engine, streams]:7.1f} {min(values):7.1f}"
            f" {max(values):7.1f} {versus}"
            f" {statistics.median(run.throughput for run in rs):10.1f}"
            f" {max(run.worst_age_p99_ms for run in rs):10.1f}"
            f" {_lost(rs):>5s}"
        )
    if ("ray", 2) in fps and ("local", 2) in fps:
        ratio = fps["ray", 2] / fps["local", 2]
        verdict = "met" if ratio >= GOAL_RAY_VS_LOCAL else "MISSED"
        lines.append(
            f"ray / local at 2 streams: {ratio:.2f}x (goal >= {GOAL_RAY_VS_LOCAL}x) {verdict}"
        )
    return "\n".join(lines)


def _lost(runs: Sequence[Run]) -> str:
    counts = [run.records_lost for run in runs]
    return "-" if None in counts else str(sum(count or 0 for count in counts))


def start_ray() -> float:
    """A local Ray instance of ``RAY_CPUS`` CPUs; the seconds ``ray.init`` took."""
    import ray

    began = time.perf_counter()
    ray.init(
        num_cpus=RAY_CPUS,
        object_store_memory=RAY_OBJECT_STORE_BYTES,
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.ERROR,
    )
    return time.perf_counter() - began


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--frames", type=int, default=300, help="frames in the 720p clip")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds")
    parser.add_argument(
        "--engine", default="local,ray", help="the engines to compare, comma-separated"
    )
    parser.add_argument(
        "--log-every", type=int, default=1, help="log every Nth frame (default: every frame)"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the runs as JSON")
    args = parser.parse_args(argv)
    engines = [name.strip() for name in args.engine.split(",") if name.strip()]
    if (
        min(args.frames, args.repeat, args.log_every) < 1
        or not engines
        or set(engines) - set(ENGINES)
    ):
        print(
            "streams_ray: error: --frames, --repeat and --log-every must be at least 1, --engine"
            " a list of"
            f" {', '.join(ENGINES)}",
            file=sys.stderr,
        )
        return 2
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load_before = os.getloadavg()[0]
    ray_start_s = start_ray() if "ray" in engines else None
    with tempfile.TemporaryDirectory(prefix="framepipe-streams-ray-") as tmp:
        clip = make_clip(Path(tmp) / f"clip{CODEC_SUFFIX['MJPG']}", args.frames, "MJPG")
        print(
            f"{args.frames} frames 1280x720 MJPG, edges, --cv-threads 1, log every"
            f" {args.log_every} frames, {args.repeat} interleaved rounds, {cpus} cores,"
            f" Ray with {RAY_CPUS} CPUs",
            file=sys.stderr,
        )
        log = configure(log_dir=Path(tmp) / "logs", max_bytes=0)
        try:
            runs = measure(
                clip, engines, args.repeat, log, lambda t: print(t, file=sys.stderr), args.log_every
            )
            starts = {engine: first_frames(clip, 2, engine) for engine in engines}
        finally:
            log.stop()
    print(render(runs))
    if ray_start_s is not None:
        print(f"local Ray instance ({RAY_CPUS} CPUs): ray.init took {ray_start_s:.2f} s")
    for engine, firsts in starts.items():
        print(f"start-up, 2 streams, {engine}: first frame after"
              f" {', '.join(f'{s:.2f}' for s in firsts)} s")  # fmt: skip
    print(f"load average before/after: {load_before:.2f}/{os.getloadavg()[0]:.2f}")
    if args.json is not None:
        payload: dict[str, Any] = {
            "frames": args.frames,
            "repeat": args.repeat,
            "log_every": args.log_every,
            "cpus": cpus,
            "ray_cpus": RAY_CPUS,
            "ray_init_s": ray_start_s,
            "load_before": load_before,
            "runs": {f"{e} {n}": [asdict(run) for run in rs] for (e, n), rs in runs.items()},
            "first_frame_s": starts,
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
    if "ray" in engines:
        import ray

        ray.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
