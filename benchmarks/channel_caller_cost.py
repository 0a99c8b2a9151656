"""What one info() call costs a child process that logs through the parent's channel, against
the same call in a single process, measured in the same run.

    python benchmarks/channel_caller_cost.py [--sets N] [--rounds R] [--calls C]

The parent configures the logger (default file sink) and opens the channel with address(); one
spawned child connects to it. In every set the parent times R rounds of C calls on its own logger
(single-process async), then the child times R rounds of the same calls on its connected logger;
the sets interleave the two so that both see the same machine. Each round is timed with
perf_counter_ns with the garbage collector off, and the queue is flushed between rounds, outside
the timing, so every call measured is an accepted one (as in test_logging_caller_cost.py). The
child's flush waits until the parent has written its records, so no round starts on a backlog.
Reported: median, 10th and 90th percentile of the per-call time of the rounds, and the ratio of
the child's median to the parent's per set and overall. Exit status 1 when the overall ratio is
above TARGET_RATIO.
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from multiprocessing.connection import Connection

TARGET_RATIO = 1.5


def time_rounds(info: Callable[..., None], flush: Callable[..., bool], rounds: int,
                calls: int) -> list[float]:
    """Per-call time of each round, in microseconds."""
    results = []
    for _ in range(rounds):
        if not flush(30):
            raise RuntimeError("the logger did not flush within 30 s")
        gc.disable()
        start = time.perf_counter_ns()
        for i in range(calls):
            info("frame %d took %.2f ms", i, 4.2)
        elapsed = time.perf_counter_ns() - start
        gc.enable()
        results.append(elapsed / calls / 1000)
    flush(30)
    return results


def child_main(address: str, conn: Connection) -> None:
    from framepipe.logging import connect

    log = connect(address, stream="child")
    while True:
        order = conn.recv()
        if order is None:
            break
        rounds, calls = order
        conn.send(time_rounds(log.info, log.flush, rounds, calls))


def summary(values: list[float]) -> str:
    deciles = statistics.quantiles(values, n=10)
    return f"{statistics.median(values):6.2f} ({deciles[0]:.2f}-{deciles[-1]:.2f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--calls", type=int, default=500)
    args = parser.parse_args(argv)

    from framepipe.logging import address, configure

    log = configure(log_dir=tempfile.mkdtemp(prefix="channel-cost-"), capture_stdlib=False)
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    child = context.Process(target=child_main, args=(address(), theirs), daemon=True)
    child.start()
    print(f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, load average "
          f"{os.getloadavg()[0]:.2f}; {args.sets} sets x {args.rounds} rounds x {args.calls} "
          "calls; us per call: median (p10-p90)")
    print(f"{'set':>3}  {'single process':>22}  {'child via channel':>22}  ratio")
    parent_all: list[float] = []
    child_all: list[float] = []
    try:
        for number in range(1, args.sets + 1):
            alone = time_rounds(log.info, log.flush, args.rounds, args.calls)
            ours.send((args.rounds, args.calls))
            if not ours.poll(600):
                raise RuntimeError("the child did not report")
            connected = ours.recv()
            parent_all += alone
            child_all += connected
            ratio = statistics.median(connected) / statistics.median(alone)
            print(f"{number:>3}  {summary(alone):>22}  {summary(connected):>22}  {ratio:5.2f}x")
        ours.send(None)
        child.join(timeout=60)
    finally:
        if child.is_alive():
            child.kill()
            child.join(timeout=10)
    ratio = statistics.median(child_all) / statistics.median(parent_all)
    print(f"all  {summary(parent_all):>22}  {summary(child_all):>22}  {ratio:5.2f}x "
          f"(target <= {TARGET_RATIO}x)")
    stats = log.get_stats()
    print(f"parent's log: {stats['accepted']} accepted, {stats['written']} written, "
          f"{stats['channel']['received']} from the child, {stats['dropped']} dropped")
    log.stop()
    return 0 if ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    raise SystemExit(main())
