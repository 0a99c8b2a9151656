"""A stream set that changes while it runs: how fast an added stream starts, and what adding and
removing streams costs a stream that is left alone.

    python benchmarks/serve_churn.py                          # spawn, 20 adds, 4+4 phases
    python benchmarks/serve_churn.py --start-method forkserver --adds 40 --phases 6

Two figures:

- **Add to first frame**: ``add_stream()`` called to the first processed frame of the new
  stream (a ``synthetic:`` scene), seen by polling its snapshot every 2 ms, for ``--adds``
  streams added one after another to a running set (each removed again before the next); p50
  and p95.
- **An untouched stream's frame p99 under churn**: a stream (``edges`` on a 320x240 scene at
  30 FPS) runs from start to end in the same set. Phases of 300 of its frames (its snapshot's
  window: 10 s) alternate, interleaved, between quiet (nothing else happens) and churn (streams
  added, run to their first frame and removed, one after another, for the whole phase); at each
  phase's end its ``frame_ms["p99"]`` covers exactly that phase's frames. The medians of the
  quiet and the churn phases and their ratio are printed; the goal is churn <= 1.1x quiet.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from framepipe import PipelineConfig
from framepipe.streams import LocalEngine, StreamsHandle, start_streams

WINDOW_FRAMES = 300  # the frames a snapshot's percentiles cover
UNTOUCHED = "synthetic:320x240@30:36000"
CHURNED = "synthetic:64x48@30:36000"
GOAL_RATIO = 1.1
POLL_S = 0.002


def _first_frame_s(handle: StreamsHandle, name: str, timeout: float = 60.0) -> float:
    """Add ``name`` and return the seconds until its first processed frame."""
    started = time.perf_counter()
    handle.add_stream(name, CHURNED, config=PipelineConfig(realtime=True))
    deadline = started + timeout
    view = handle.streams[name]
    while view.snapshot().frames_processed == 0:
        if time.perf_counter() > deadline:
            raise RuntimeError(f"{name} processed no frame within {timeout:g} s")
        time.sleep(POLL_S)
    return time.perf_counter() - started


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def _phase(handle: StreamsHandle, churn: bool, counter: list[int]) -> float:
    """Run one phase of ``WINDOW_FRAMES`` untouched frames; its p99 frame time (ms)."""
    base = handle.streams["untouched"]
    start = base.snapshot().frames_processed
    while base.snapshot().frames_processed < start + WINDOW_FRAMES:
        if churn:
            counter[0] += 1
            name = f"churn-{counter[0]}"
            _first_frame_s(handle, name)
            handle.remove_stream(name)
        else:
            time.sleep(0.05)
    return float(base.snapshot().frame_ms["p99"])


def _commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--start-method", choices=("spawn", "forkserver"), default="spawn")
    parser.add_argument("--adds", type=int, default=20, help="streams added for the first figure")
    parser.add_argument("--phases", type=int, default=4, help="quiet and churn phases, each")
    parser.add_argument("--json", metavar="FILE", help="write the figures as JSON")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    engine = LocalEngine(args.start_method)
    config = PipelineConfig(realtime=True)
    with start_streams(
        [UNTOUCHED], "edges", config, names=["untouched"], engine=engine, service=True,
        cv_threads=1,
    ) as handle:  # fmt: skip
        _wait(lambda: handle.streams["untouched"].snapshot().frames_processed > 0)
        first_frames = []
        for index in range(args.adds):
            first_frames.append(_first_frame_s(handle, f"add-{index}"))
            handle.remove_stream(f"add-{index}")
        counter = [0]
        quiet: list[float] = []
        churned: list[float] = []
        for _ in range(args.phases):  # interleaved: quiet, churn, quiet, churn ...
            quiet.append(_phase(handle, False, counter))
            churned.append(_phase(handle, True, counter))
        handle.stop()
        handle.wait(60.0)
    figures = {
        "start_method": args.start_method,
        "add_to_first_frame_ms": {
            "p50": round(1000 * statistics.median(first_frames), 1),
            "p95": round(1000 * _percentile(first_frames, 95), 1),
            "n": len(first_frames),
        },
        "untouched_p99_ms": {
            "quiet": [round(v, 3) for v in quiet],
            "churn": [round(v, 3) for v in churned],
            "quiet_median": round(statistics.median(quiet), 3),
            "churn_median": round(statistics.median(churned), 3),
            "ratio": round(statistics.median(churned) / statistics.median(quiet), 3),
            "churn_cycles": counter[0],
        },
        "load_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "commit": _commit(),
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
    }
    first, p99 = figures["add_to_first_frame_ms"], figures["untouched_p99_ms"]
    print(f"start method {args.start_method}, commit {figures['commit']}")
    print(f"add to first frame: p50 {first['p50']} ms, p95 {first['p95']} ms ({first['n']} adds)")
    print(f"untouched p99 quiet {p99['quiet']} ms, churn {p99['churn']} ms "
          f"({p99['churn_cycles']} add/remove cycles)")  # fmt: skip
    verdict = "met" if p99["ratio"] <= GOAL_RATIO else "NOT met"
    print(f"medians: quiet {p99['quiet_median']} ms, churn {p99['churn_median']} ms, "
          f"ratio {p99['ratio']} (goal <= {GOAL_RATIO}: {verdict})")  # fmt: skip
    print(f"load average before/after: {figures['load_before_after']}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    return 0


def _wait(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError("the untouched stream processed no frame")
        time.sleep(0.05)


if __name__ == "__main__":
    raise SystemExit(main())
