"""Logger stress figures: memory under a flood, the worst caller stall in a burst, drop cost.

    python benchmarks/logging_stress.py [--json FILE]

- flood: 1,000,000 info() calls into a 10,000-entry queue; RSS growth (psutil) from before the
  flood to its end, for framepipe async (drop_newest) and stdlib QueueHandler over
  queue.Queue(10000) (whose full-queue tracebacks go to /dev/null here; it gets 100,000 calls,
  since each traceback costs it a fraction of a millisecond).
- burst: 200,000 info() calls as fast as possible into the default 10,000-entry queue; the
  worst single call (perf_counter_ns), with the writer draining to a real file meanwhile (and
  most of the burst dropped: the writer cannot keep up with a tight loop). The GC is
  left on: its pauses are part of what a caller sees. A no-op call in the same loop shows how much
  of the worst case is the machine itself, and a no-op call beside a Python thread that builds and
  formats records (what any background writer does) shows what sharing the GIL costs by itself.
- drop: the median cost of a call that meets a full queue, and what it printed on stderr.
Each scenario runs in a fresh child process so one does not inherit the other's heap; runs are
interleaved framepipe/stdlib and repeated, and medians are reported.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

FLOOD, BURST, DROPS = 1_000_000, 200_000, 100_000

CHILD = r"""
import contextlib, gc, io, json, logging, os, sys, tempfile
import threading, time
import psutil
from framepipe.bench.baselines import classic_file_handler, stdlib_queue_logger
from framepipe.logging import configure

design, scenario, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
tmp = tempfile.mkdtemp()
queue_size = 10_000  # the default

if design == "framepipe":
    log = configure(log_dir=tmp, queue_size=queue_size, capture_stdlib=False)
    info, finish = log.info, log.stop
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
if scenario == "flood":
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
    times = [0] * n
    with contextlib.redirect_stderr(open(os.devnull, "w")):
        for i in range(n):
            t0 = clock()
            info("frame %d took %.2f ms", i, 4.2)
            times[i] = clock() - t0
    times.sort()
    result["worst_call_ms"] = times[-1] / 1e6
    result["p9999_call_ms"] = times[int(n * 0.9999)] / 1e6
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    scenarios = [("flood", FLOOD, "rss_growth_mb"), ("burst", BURST, "worst_call_ms"),
                 ("drop", DROPS, "drop_call_us_p50")]
    figures: dict[str, dict[str, float]] = {}
    for scenario, n, key in scenarios:
        runs: dict[str, list[float]] = {"framepipe": [], "stdlib": []}
        if scenario == "burst":
            runs["no-op"] = []
            runs["no-op+thread"] = []
        for _ in range(args.repeat):
            for design in runs:  # interleaved
                if scenario == "drop" and design != "framepipe":
                    continue  # measured below, once: it prints a traceback per call
                # stdlib prints a traceback per dropped record: a tenth of the flood is plenty.
                count = n // 10 if (scenario, design) == ("flood", "stdlib") else n
                runs[design].append(run_child(design, scenario, count)[key])
        if scenario == "drop":
            runs["stdlib"].append(run_child("stdlib", "drop", 2_000)[key])
        figures[scenario] = {d: statistics.median(v) for d, v in runs.items() if v}
        print(f"{scenario:6s} {key:18s} " + "  ".join(
            f"{d}: median {statistics.median(v):8.2f} (runs {', '.join(f'{x:.2f}' for x in v)})"
            for d, v in runs.items() if v))
    figures["machine"] = {"cpus": os.cpu_count() or 0}  # type: ignore[dict-item]
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=2)
    return 0


if __name__ == "__main__":
    tempfile.tempdir = None
    raise SystemExit(main())
