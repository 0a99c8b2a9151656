"""Parallel workers for one stream: what ``--workers 2`` buys on a heavy processor.

    python benchmarks/parallel.py                  # 60 frames of 720p, 5 interleaved repeats
    python benchmarks/parallel.py --frames 90 --repeat 7 --json parallel.json

Three comparisons, each variant run interleaved with the others (A B C ... A B C ...) so that
machine drift hits them alike; the table shows medians of the frames per second of each run:

- a pure-Python processor costing ~40 ms a 720p frame: ``--workers 2 --worker-kind process``
  against ``--workers 1`` (target: at least 1.7x);
- an OpenCV processor costing ~40 ms (repeated ``bilateralFilter``) with one OpenCV thread:
  ``--workers 2`` threads against ``--workers 1`` (target: at least 1.7x);
- framepipe's process workers against the obvious peer, ``multiprocessing.Pool(2).imap`` over
  the same frames, pickled both ways (target: at least 1.2x).

Both processors are calibrated to ~40 ms on this machine first. The frames come from the
synthetic 1280x720 scene for every variant (the pool's loop reads them in the parent as the
pipeline's reader does). Worker processes are started before the clock starts for both
framepipe and the pool. The per-frame transport cost of each (a frame to a worker process and
back, identity processor, one worker) is measured too, and the two-core ceiling:
the same work with nothing around it (no reader, no transport, no ordering) on two processes
or threads against one, in the same interleaved runs: the speed-up this machine can give at its
current load, which a shared machine's other work caps below 2. A processor that sleeps 40 ms
(no CPU) shows what the workers' own machinery allows where the cores are not the limit.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import platform
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import cv2

from framepipe.pipeline import Pipeline
from framepipe.pipeline.config import WorkerKind
from framepipe.pipeline.parallel import ProcessWorkers
from framepipe.pipeline.sources import open_source
from framepipe.typing import Frame

TARGET_MS = 40.0
# Calibrated in the parent, handed to workers through the environment (spawned workers import
# this module afresh).
LOOPS_ENV, FILTERS_ENV = "FRAMEPIPE_BENCH_LOOPS", "FRAMEPIPE_BENCH_FILTERS"


def pure_python(frame: Frame) -> Frame:
    """~40 ms of interpreted work (holds the GIL the whole time)."""
    total = 0
    for value in range(int(os.environ.get(LOOPS_ENV, "1000000"))):
        total += value * value
    return frame


def bilateral(frame: Frame) -> Frame:
    """~40 ms of OpenCV work (releases the GIL while it filters)."""
    out = frame
    for _ in range(int(os.environ.get(FILTERS_ENV, "1"))):
        out = cv2.bilateralFilter(out, 9, 50, 50)
    return out


def nap(frame: Frame) -> Frame:
    """40 ms without the CPU: what the workers' machinery costs when cores are not the limit."""
    time.sleep(TARGET_MS / 1000.0)
    return frame


def identity(frame: Frame) -> Frame:
    return frame


def _median_ms(fn: Callable[[Frame], Frame], frame: Frame, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn(frame)
        times.append((time.perf_counter() - started) * 1000.0)
    return statistics.median(times)


def calibrate(frame: Frame) -> dict[str, float]:
    """Set both processors to cost ~40 ms here; their measured cost in ms."""
    os.environ[LOOPS_ENV] = "200000"
    per_loop = _median_ms(pure_python, frame) / 200_000
    os.environ[LOOPS_ENV] = str(max(1, round(TARGET_MS / per_loop)))
    os.environ[FILTERS_ENV] = "1"
    per_filter = _median_ms(bilateral, frame)
    os.environ[FILTERS_ENV] = str(max(1, round(TARGET_MS / per_filter)))
    return {
        "pure_python": _median_ms(pure_python, frame),
        "bilateral": _median_ms(bilateral, frame),
    }


def scene(frames: int) -> str:
    return f"synthetic:1280x720@30:{frames / 30:.4f}"


def frames_of(spec: str) -> Iterator[Frame]:
    with open_source(spec) as source:
        while (frame := source.read()) is not None:
            yield frame


def quiet_logger() -> logging.Logger:
    """The pipelines' logger: budget-miss warnings are expected here, and not the point."""
    log = logging.getLogger("bench.parallel")
    log.addHandler(logging.NullHandler())
    log.propagate = False
    return log


def run_pipeline(spec: str, processor: Any, workers: int, kind: WorkerKind, frames: int) -> float:
    log = quiet_logger()
    report = Pipeline(
        spec, processor=processor, workers=workers, worker_kind=kind, max_frames=frames,
        logger=log, log_every=10_000,
    ).run()  # fmt: skip
    if report.frames_processed != frames:
        raise RuntimeError(f"processed {report.frames_processed} of {frames} frames")
    return report.fps


def run_pool(pool: Any, spec: str, frames: int) -> float:
    started = time.perf_counter()
    done = sum(1 for _ in pool.imap(pure_python, frames_of(spec)))
    elapsed = time.perf_counter() - started
    if done != frames:
        raise RuntimeError(f"the pool processed {done} of {frames} frames")
    return done / elapsed


def repeat_python(count: int) -> int:
    """``pure_python`` ``count`` times on a frame made here: the work without any transport."""
    frame = next(frames_of(scene(1)))
    for _ in range(count):
        pure_python(frame)
    return count


def bare_python(pool: Any, frames: int, processes: int) -> float:
    """The machine's own rate for the pure-Python work: ``processes`` pool processes each
    running its share of the frames on a frame of its own (nothing travels)."""
    shares = [frames // processes + (1 if i < frames % processes else 0) for i in range(processes)]
    started = time.perf_counter()
    done: int = sum(pool.map(repeat_python, shares, chunksize=1))
    return done / (time.perf_counter() - started)


def bare_opencv(frame: Frame, frames: int, threads: int) -> float:
    """The machine's own rate for the OpenCV work on ``threads`` threads, nothing handed over."""
    shares = [frames // threads + (1 if i < frames % threads else 0) for i in range(threads)]

    def work(count: int) -> None:
        for _ in range(count):
            bilateral(frame)

    workers = [threading.Thread(target=work, args=(share,)) for share in shares]
    started = time.perf_counter()
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    return frames / (time.perf_counter() - started)


def transport_ms(frame: Frame, pool: Any, repeat: int = 40) -> dict[str, float]:
    """A 720p frame to one worker process and back with an identity processor, median ms."""
    workers = ProcessWorkers(identity, 1)
    try:
        ours = []
        for seq in range(repeat):
            started = time.perf_counter()
            workers.submit(seq, frame)
            while workers.wait(seq, 1.0) is None:
                pass
            ours.append((time.perf_counter() - started) * 1000.0)
    finally:
        workers.close()
    theirs = []
    for _ in range(repeat):
        started = time.perf_counter()
        pool.apply(identity, (frame,))
        theirs.append((time.perf_counter() - started) * 1000.0)
    return {"framepipe": statistics.median(ours), "pool": statistics.median(theirs)}


def machine() -> dict[str, Any]:
    model = "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            model = next(line.split(":", 1)[1].strip() for line in info if "model name" in line)
    except (OSError, StopIteration):
        pass
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "opencv": cv2.__version__,
        "load_before": [round(x, 2) for x in os.getloadavg()],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", default=None, help="write the figures as JSON")
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)  # one OpenCV thread, in this process and (inherited) in the workers
    spec = scene(args.frames)
    frame = next(frames_of(scene(1)))
    info = machine()
    print(f"machine: {info['cpu']}, {info['cores']} cores, Python {info['python']}, "
          f"OpenCV {info['opencv']}; load average before: {info['load_before']}")  # fmt: skip
    costs = calibrate(frame)
    filters = os.environ[FILTERS_ENV]
    print(f"processors: pure Python {costs['pure_python']:.1f} ms, "
          f"bilateralFilter x{filters} {costs['bilateral']:.1f} ms a frame")  # fmt: skip
    variants: dict[str, Callable[[], float]] = {}
    context = multiprocessing.get_context("spawn")
    with context.Pool(2) as pool:
        pool.map(identity, [frame, frame])  # started and warm before any clock
        variants = {
            "python, 1 worker": lambda: run_pipeline(spec, pure_python, 1, "thread", args.frames),
            "python, 2 processes": lambda: run_pipeline(
                spec, pure_python, 2, "process", args.frames
            ),
            "python, Pool(2).imap": lambda: run_pool(pool, spec, args.frames),
            "opencv, 1 worker": lambda: run_pipeline(spec, bilateral, 1, "thread", args.frames),
            "opencv, 2 threads": lambda: run_pipeline(spec, bilateral, 2, "thread", args.frames),
            "sleep, 1 worker": lambda: run_pipeline(spec, nap, 1, "thread", args.frames),
            "sleep, 2 processes": lambda: run_pipeline(spec, nap, 2, "process", args.frames),
            # The ceiling here, now: the same work with nothing around it, on 1 and on 2 cores.
            "python, bare 1 process": lambda: bare_python(pool, args.frames, 1),
            "python, bare 2 processes": lambda: bare_python(pool, args.frames, 2),
            "opencv, bare 1 thread": lambda: bare_opencv(frame, args.frames, 1),
            "opencv, bare 2 threads": lambda: bare_opencv(frame, args.frames, 2),
        }
        fps: dict[str, list[float]] = {name: [] for name in variants}
        for repeat in range(args.repeat):
            for name, variant in variants.items():
                fps[name].append(variant())
            print(f"repeat {repeat + 1}/{args.repeat}: "
                  + ", ".join(f"{n} {v[-1]:.1f}" for n, v in fps.items()), flush=True)  # fmt: skip
        transport = transport_ms(frame, pool)
    medians = {name: statistics.median(values) for name, values in fps.items()}
    ratios = {
        "process workers 2 / 1 (python)": (
            medians["python, 2 processes"] / medians["python, 1 worker"],
            1.7,
        ),
        "thread workers 2 / 1 (opencv)": (
            medians["opencv, 2 threads"] / medians["opencv, 1 worker"],
            1.7,
        ),
        "process workers 2 / 1 (40 ms sleep)": (
            medians["sleep, 2 processes"] / medians["sleep, 1 worker"],
            1.7,
        ),
        "process workers / Pool(2).imap": (
            medians["python, 2 processes"] / medians["python, Pool(2).imap"],
            1.2,
        ),
    }
    print(f"\n{'variant':<24}{'median FPS':>12}   runs")
    for name, values in fps.items():
        print(f"{name:<24}{medians[name]:>12.2f}   {' '.join(f'{v:.1f}' for v in values)}")
    ceilings = {
        "process workers 2 / 1 (python)": medians["python, bare 2 processes"]
        / medians["python, bare 1 process"],
        "thread workers 2 / 1 (opencv)": medians["opencv, bare 2 threads"]
        / medians["opencv, bare 1 thread"],
    }
    print(f"\n{'ratio':<38}{'median':>8}{'target':>8}{'ceiling':>9}")
    for name, (ratio, target) in ratios.items():
        verdict = "met" if ratio >= target else "NOT met"
        ceiling = ceilings.get(name)
        shown = f"{ceiling:>9.2f}" if ceiling is not None else f"{'':>9}"
        print(f"{name:<38}{ratio:>8.2f}{target:>8.1f}{shown}  {verdict}")
    print(
        "ceiling: the same work alone on 2 cores against 1, in the same runs (the machine's "
        "own speed-up at its load)"
    )
    print(f"\ntransport of one 720p frame to a worker process and back (identity), median: "
          f"framepipe shared memory {transport['framepipe']:.2f} ms, "
          f"Pool pickled {transport['pool']:.2f} ms")  # fmt: skip
    print(f"load average after: {[round(x, 2) for x in os.getloadavg()]}")
    if args.json:
        document = {
            "machine": info, "processor_ms": costs, "frames": args.frames,
            "repeat": args.repeat, "fps": fps, "median_fps": medians,
            "ratios": {name: round(ratio, 3) for name, (ratio, _) in ratios.items()},
            "ceilings": {name: round(value, 3) for name, value in ceilings.items()},
            "transport_ms": transport,
        }  # fmt: skip
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(document, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
