"""The stats server's own process over a long run: its RSS every 30 s.

Four streams whose snapshots are made up (no frame loop: only the server's memory is measured),
``/system-resources`` polled 20 times a second and ``/metrics`` once a second, for
``--duration`` seconds. The server keeps the last 10 minutes of chart points (``/history``), so
its memory should rise for 10 minutes and then stay flat.

    python benchmarks/monitor_server_soak.py --duration 900
"""

from __future__ import annotations

import argparse
import os
import threading
import time
import urllib.request

import psutil

from framepipe._snapshot import PipelineSnapshot
from framepipe.monitor import serve

STREAMS = 4
SAMPLE_S = 30.0


class MadeUpStream:
    """A stream at 30 FPS as its snapshots tell it, with a worker pid (this process)."""

    pid = os.getpid()

    def __init__(self) -> None:
        self.started_at = time.perf_counter()

    def snapshot(self) -> PipelineSnapshot:
        frames = int((time.perf_counter() - self.started_at) * 30)
        return PipelineSnapshot(
            state="running", source="synthetic", budget_ms=33.3, frames_read=frames,
            frames_processed=frames, frames_dropped=0, frames_failed=0, budget_misses=0,
            reconnects=0, elapsed_s=frames / 30, fps=30.0,
            frame_ms={"p50": 1.0 + frames % 7, "p99": 2.0, "max": 3.0},
            frame_age_ms={"p50": 1.0, "p99": 2.0}, last_frame_at=time.perf_counter(),
            latest_frame=None,
            last_results={"frame": frames, "t": frames / 30, "results": {"n": frames}},
        )  # fmt: skip


def poll(url: str, every_s: float, stop: threading.Event) -> None:
    while not stop.wait(every_s):
        try:
            with urllib.request.urlopen(url, timeout=10) as reply:
                reply.read()
        except OSError as exc:
            print(f"poll {url}: {exc}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=900.0, help="seconds (default 900)")
    args = parser.parse_args()
    streams = {f"cam{number}": MadeUpStream() for number in range(STREAMS)}
    stop = threading.Event()
    with serve(0, streams=streams) as server:
        pollers = [
            threading.Thread(target=poll, args=(server.url + path, every_s, stop), daemon=True)
            for path, every_s in (("system-resources", 0.05), ("metrics", 1.0))
        ]
        for poller in pollers:
            poller.start()
        process = psutil.Process(server.pid)
        print(f"load before {os.getloadavg()}; t s, server RSS MB", flush=True)
        started = time.monotonic()
        while (elapsed := time.monotonic() - started) < args.duration:
            print(f"{elapsed:7.1f} {process.memory_info().rss / 2**20:8.2f}", flush=True)
            time.sleep(min(SAMPLE_S, args.duration - elapsed))
        print(f"{time.monotonic() - started:7.1f} {process.memory_info().rss / 2**20:8.2f}")
        print(f"load after {os.getloadavg()}", flush=True)
        stop.set()
        for poller in pollers:
            poller.join(15)


if __name__ == "__main__":
    main()
