"""Logger stress figures: writer throughput, the worst caller stall in a burst, memory, drops.

    python benchmarks/logging_stress.py [--scenarios LIST] [--repeat N] [--sets S] [--json FILE]

- throughput: 100,000 info() calls, timed from the first call until flush() returns, with the
  default file sink and a queue that holds them all, against a plain synchronous stdlib
  FileHandler with the same format (framepipe's default) in the same loop; records per second
  and their ratio per pair of runs.
- burst: 200,000 info() calls as fast as possible into the default 10,000-entry queue; the
  worst single call (perf_counter_ns), with the writer draining to a real file meanwhile (and
  most of the burst dropped: the writer cannot keep up with a tight loop). The GC is
  left on: its pauses are part of what a caller sees. A no-op call in the same loop shows how much
  of the worst case is the machine itself, and a no-op call beside a Python thread that builds and
  formats records in the same rhythm as the writer (what any background writer does) shows what
  sharing the GIL costs by itself.
- flood: 1,000,000 info() calls into a 10,000-entry queue; RSS growth (psutil) from before the
  flood to its end, for framepipe async (drop_newest) and stdlib QueueHandler over
  queue.Queue(10000) (whose full-queue tracebacks go to /dev/null here; it gets 100,000 calls,
  since each traceback costs it a fraction of a millisecond).
- drop: the median cost of a call that meets a full queue, and what it printed on stderr.
Each run is a fresh child process so one does not inherit the other's heap; designs are
interleaved in every repeat, a set is --repeat rounds, and medians are reported with the load
average before each set. The exit status is 1 when a checked target is missed (see TARGETS).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

FLOOD, BURST, DROPS, THROUGHPUT = 1_000_000, 200_000, 100_000, 100_000

CHILD = r"""
import array, contextlib, gc, io, json, logging, os, sys, tempfile
import threading, time
import psutil
from framepipe.bench.baselines import classic_file_handler, stdlib_queue_logger
from framepipe.logging import configure

design, scenario, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
tmp = tempfile.mkdtemp()
# The default, except for throughput: a queue that holds the whole flood, so nothing is dropped.
queue_size = 2 * n if scenario == "throughput" else 10_000
FORMAT = "%(asctime)s.%(msecs)03d %(levelname)-8s %(name)s: %(message)s"  # framepipe's default
DATEFMT = "%Y-%m-%d %H:%M:%S"

if design == "framepipe":
    log = configure(log_dir=tmp, queue_size=queue_size, capture_stdlib=False)
    info, finish, flush = log.info, log.stop, log.flush
elif design == "stdlib-sync":  # a plain synchronous FileHandler with framepipe's default format
    handler = logging.FileHandler(os.path.join(tmp, "stdlib.txt"), encoding="utf-8")
    handler.setFormatter(logging.Formatter(FORMAT, DATEFMT))
    logger = logging.getLogger("framepipe")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    info, finish, flush = logger.info, handler.close, handler.flush
elif design == "no-op":  # the machine's own noise: a call that does nothing
    info = lambda *args: None
    finish = lambda: None
elif design == "no-op+thread":  # ... beside a Python thread doing a log writer's kind of work
    stop = threading.Event()
    def busy():
        fmt = logging.Formatter("%(asctime)s %(levelname)-8s %(name)s: %(message)s")
        while not stop.is_set():
            for i in range(64):
                fmt.format(logging.LogRecord("x", 20, "", 0, "frame %d", (i,), None))
            time.sleep(0.00005)
    busy_thread = threading.Thread(target=busy, daemon=True)
    busy_thread.start()
    info = lambda *args: None
    finish = lambda: (stop.set(), busy_thread.join(5))
else:
    # the stdlib's own full-queue reaction (a traceback per record) is part of what it costs
    sink = classic_file_handler(os.path.join(tmp, "stdlib.txt"))
    stdlib = stdlib_queue_logger("stress", sink, size=queue_size, count_drops=False)
    info, finish = stdlib.logger.info, stdlib.stop

result = {}
if scenario == "throughput":
    clock = time.perf_counter
    t0 = clock()
    for i in range(n):
        info("frame %d took %.2f ms", i, 4.2)
    flush()
    result["records_per_s"] = n / (clock() - t0)
    if design == "framepipe":
        stats = log.get_stats()
        assert stats["written"] == n and stats["dropped"] == 0, stats
elif scenario == "flood":
    process = psutil.Process()
    before = process.memory_info().rss
    peak = before
    with contextlib.redirect_stderr(open(os.devnull, "w")):
        for i in range(n):
            info("frame %d took %.2f ms", i, 4.2)
            if i % 10_000 == 0:
                peak = max(peak, process.memory_info().rss)
    peak = max(peak, process.memory_info().rss)
    result["rss_growth_mb"] = (peak - before) / 2**20
elif scenario == "burst":
    clock = time.perf_counter_ns
    collections = []  # (start, end) of every garbage collection: which stalls were the GC's
    def note_collection(phase, info, started=[0]):
        if phase == "start":
            started[0] = clock()
        else:
            collections.append((started[0], clock()))
    gc.callbacks.append(note_collection)
    # Arrays, not lists: a garbage collection traverses a 200,000-item list, an array it skips.
    times, starts = array.array("q", [0]) * n, array.array("q", [0]) * n
    with contextlib.redirect_stderr(open(os.devnull, "w")):
        for i in range(n):
            t0 = clock()
            info("frame %d took %.2f ms", i, 4.2)
            times[i] = clock() - t0
            starts[i] = t0
    gc.callbacks.remove(note_collection)
    def in_collection(i):
        return any(a < starts[i] + times[i] and b > starts[i] for a, b in collections)
    order = sorted(range(n), key=times.__getitem__, reverse=True)
    result["worst_call_ms"] = times[order[0]] / 1e6
    result["p9999_call_ms"] = times[order[n // 10_000]] / 1e6
    result["worst_call_outside_gc_ms"] = next(
        (times[i] for i in order if not in_collection(i)), 0) / 1e6
elif scenario == "drop":
    gate = threading.Event()
    class Held(logging.Handler):
        def emit(self, record):
            gate.wait(60)
    if design == "framepipe":
        log = configure(handlers=[Held()], queue_size=100, capture_stdlib=False)
        info = log.info
    for i in range(200):
        info("fill %d", i)
    err = io.StringIO()
    clock = time.perf_counter_ns
    times = []
    with contextlib.redirect_stderr(err):
        for i in range(n):
            t0 = clock()
            info("frame %d took %.2f ms", i, 4.2)
            times.append(clock() - t0)
    times.sort()
    result["drop_call_us_p50"] = times[len(times) // 2] / 1e3
    result["stderr_bytes"] = len(err.getvalue())
    gate.set()
finish()
print(json.dumps(result))
"""


def run_child(design: str, scenario: str, n: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, design, scenario, str(n)],
        capture_output=True, text=True, timeout=600, check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


# scenario: (calls per run, figure reported, designs interleaved in each repeat)
SCENARIOS = {
    "throughput": (THROUGHPUT, "records_per_s", ("framepipe", "stdlib-sync")),
    "flood": (FLOOD, "rss_growth_mb", ("framepipe", "stdlib")),
    "burst": (BURST, "worst_call_ms", ("framepipe", "stdlib", "no-op", "no-op+thread")),
    "drop": (DROPS, "drop_call_us_p50", ("framepipe",)),
}


def load_average() -> str:
    try:
        return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    except OSError:
        return "load average unknown"


Runs = dict[str, list[dict[str, float]]]  # design: the figures of each of its runs


def run_scenario(scenario: str, repeat: int) -> Runs:
    n, _, designs = SCENARIOS[scenario]
    runs: Runs = {design: [] for design in designs}
    for _ in range(repeat):
        for design in designs:  # interleaved
            # stdlib prints a traceback per dropped record: a tenth of the flood is plenty.
            count = n // 10 if (scenario, design) == ("flood", "stdlib") else n
            runs[design].append(run_child(design, scenario, count))
    if scenario == "drop":  # once: stdlib prints a traceback per call
        runs["stdlib"] = [run_child("stdlib", "drop", 2_000)]
    return runs


def figures_of(runs: Runs, design: str, key: str) -> list[float]:
    return [run[key] for run in runs[design]]


def show(scenario: str, runs: Runs) -> None:
    keys = [SCENARIOS[scenario][1]]
    if scenario == "burst":  # the same, leaving out calls that a garbage collection overlapped
        keys.append("worst_call_outside_gc_ms")
    for key in keys:
        print(f"{scenario:10s} {key:18s} " + "  ".join(
            f"{d}: median {statistics.median(v):10.2f} (runs {', '.join(f'{x:.2f}' for x in v)})"
            for d in runs if (v := figures_of(runs, d, key))))
    if scenario == "throughput":
        ratios = throughput_ratios([runs])
        print(f"{'':10s} {'ratio':18s} framepipe / stdlib-sync: median "
              f"{statistics.median(ratios):.2f} (runs {', '.join(f'{r:.2f}' for r in ratios)})")


def throughput_ratios(sets: list[Runs]) -> list[float]:
    return [
        a / b for runs in sets
        for a, b in zip(figures_of(runs, "framepipe", "records_per_s"),
                        figures_of(runs, "stdlib-sync", "records_per_s"), strict=True)
    ]


# What this script checks, on the figures of the run: only what the 2-core development VM reached
# also while busy with other work (docs/measurements/logging.md). "Worst call <= 5 ms in every
# run" held only while it was otherwise idle, so it is reported (runs <= 5 ms, beside the
# controls), not checked.
TARGETS = {
    "throughput": "median framepipe / stdlib-sync ratio >= 3.5",
    "burst": "median worst call <= 5 ms; runs <= 5 ms counted beside the GIL-sharing control",
}
RATIO_TARGET = 3.5
WORST_CALL_TARGET_MS = 5.0


def verdict(scenario: str, sets: list[Runs]) -> bool:
    """Print the target's verdict for ``scenario`` over all its sets; True if met (or none)."""
    if scenario == "throughput":
        ratios = throughput_ratios(sets)
        met = statistics.median(ratios) >= RATIO_TARGET
        print(f"target {TARGETS[scenario]}: {'met' if met else 'MISSED'} "
              f"(median {statistics.median(ratios):.2f} over {len(ratios)} pairs)")
        return met
    if scenario == "burst":
        def within(design: str, key: str = "worst_call_ms") -> str:
            worst = [x for runs in sets for x in figures_of(runs, design, key)]
            return f"{sum(x <= WORST_CALL_TARGET_MS for x in worst)} of {len(worst)}"

        worst = [x for runs in sets for x in figures_of(runs, "framepipe", "worst_call_ms")]
        met = statistics.median(worst) <= WORST_CALL_TARGET_MS
        print(f"target {TARGETS[scenario]}: {'met' if met else 'MISSED'} "
              f"(median {statistics.median(worst):.2f} ms); runs <= 5 ms: framepipe "
              f"{within('framepipe')} (outside garbage collections "
              f"{within('framepipe', 'worst_call_outside_gc_ms')}), stdlib {within('stdlib')}, "
              f"no-op {within('no-op')}, no-op+thread {within('no-op+thread')}")
        return met
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", default=",".join(SCENARIOS),
                        help="comma-separated, from: " + ", ".join(SCENARIOS))
    parser.add_argument("--repeat", type=int, default=3, help="runs per design in a set")
    parser.add_argument("--sets", type=int, default=1, help="sets of --repeat runs")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    scenarios = [name.strip() for name in args.scenarios.split(",")]
    unknown = [name for name in scenarios if name not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario {unknown[0]!r}")
    figures: dict[str, object] = {"machine": {"cpus": os.cpu_count() or 0}}
    met = True
    for scenario in scenarios:
        sets = []
        for _ in range(args.sets):
            print(load_average(), flush=True)
            runs = run_scenario(scenario, args.repeat)
            show(scenario, runs)
            sets.append(runs)
        figures[scenario] = sets
        met &= verdict(scenario, sets)
    print(load_average())
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=2)
    return 0 if met else 1


if __name__ == "__main__":
    tempfile.tempdir = None
    raise SystemExit(main())
