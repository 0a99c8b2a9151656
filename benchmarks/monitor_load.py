"""What a busy stats server costs the frame loops: p50 frame time with and without clients.

    python benchmarks/monitor_load.py                      # one stream, 30 pairs
    python benchmarks/monitor_load.py --streams 2          # two streams, a preview each
    python benchmarks/monitor_load.py --pairs 60 --json monitor_load.json

Frame loops paced at 30 FPS (like cameras; one per ``--streams``, each on a thread of this
process) run the ``motion`` processor on the generated 720p scene and publish every frame the way
``Pipeline`` does (a ``LiveWindow`` and the Prometheus histograms), logging every 30th frame
through a real logger, with ``framepipe.monitor.serve()`` watching them. In "clients" blocks a
separate process runs 10 clients: each polls ``/``, ``/system-resources``, ``/metrics``,
``/history``, ``/healthz``, ``/readyz`` and every stream's latest frame (``/frame.jpg``, or
``/streams/NAME/frame.jpg`` with several) 20 times a second over a kept-alive connection and
keeps ``/events`` open, and 2 viewers watch MJPEG (with two streams, one each); in "idle" blocks
the server runs and nobody asks. Blocks of one second alternate A B B A, so that drift (other
processes, CPU clocks) hits both alike; the loops' own time per frame (processor and publishing)
is what is measured, and the figure is the ratio of the p50s over all frames of each kind (idle
over with clients: 1 means no cost, and it should stay at 0.95 or above), with the per-pair
ratios' quartiles beside it. Several streams share this process's GIL here, which makes their
figure a worst case: in ``framepipe run A B`` each loop has a worker process of its own.
"""

from __future__ import annotations

import argparse
import gc
import http.client
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from framepipe.logging import configure
from framepipe.monitor import serve
from framepipe.pipeline.histogram import FrameHistograms
from framepipe.pipeline.live import LiveWindow, PipelineSnapshot
from framepipe.pipeline.processors import Frame, get_processor, split_output
from framepipe.pipeline.sources import open_source

POLLED = ("/", "/system-resources", "/metrics", "/history", "/healthz", "/readyz")
FPS = 30.0
VIEWERS = 2


def stream_names(count: int) -> list[str]:
    return [f"cam{index}" for index in range(count)]


def polled(streams: int) -> list[str]:
    """What each client polls: every endpoint and every stream's latest frame."""
    if streams == 1:
        return [*POLLED, "/frame.jpg"]
    return [*POLLED, *(f"/streams/{name}/frame.jpg" for name in stream_names(streams))]


def watched(streams: int) -> list[str]:
    """The MJPEG viewers' URLs: with several streams, one viewer per stream in turn."""
    if streams == 1:
        return ["/stream.mjpg"] * VIEWERS
    names = stream_names(streams)
    return [f"/streams/{names[i % streams]}/stream.mjpg" for i in range(VIEWERS)]


# -- the frame loop ----------------------------------------------------------------------------


class PacedLoop:
    """A camera-paced frame loop that publishes like ``Pipeline``; the server reads snapshot()."""

    def __init__(self, frames: Sequence[Frame], processor_name: str, source: str) -> None:
        self.frames = frames
        self.processor = get_processor(processor_name)
        self.source = source
        self.budget_ms = 1000 / FPS
        self.window = LiveWindow()
        self.pair = FrameHistograms.fixed()
        self.processed = 0
        self.misses = 0
        self.started = time.perf_counter()
        self._next_at = time.perf_counter()

    def run(self, count: int, log: Any) -> list[float]:
        """Process ``count`` frames at 30 FPS; the loop's time per frame, in ms."""
        times = []
        self._next_at = max(self._next_at, time.perf_counter())
        for _ in range(count):
            captured = time.perf_counter()
            frame = self.frames[self.processed % len(self.frames)]
            t0 = time.perf_counter()
            out, _ = split_output(self.processor(frame), frame)
            if self.processed % 30 == 0:
                log.info("frame %d", self.processed)
            t1 = time.perf_counter()
            frame_ms = (t1 - t0) * 1000
            self.window.publish(frame_ms, (t1 - captured) * 1000, t1, out)
            self.pair.observe(t1 - t0, t1 - captured)
            self.misses += frame_ms > self.budget_ms
            self.processed += 1
            times.append((time.perf_counter() - t0) * 1000)
            self._next_at = max(self._next_at + 1 / FPS, time.perf_counter())
            time.sleep(max(0.0, self._next_at - time.perf_counter()))
        return times

    def snapshot(self) -> PipelineSnapshot:
        now = time.perf_counter()
        return PipelineSnapshot(
            state="running", source=self.source, budget_ms=self.budget_ms,
            frames_read=self.processed, frames_processed=self.processed, frames_dropped=0,
            frames_failed=0, budget_misses=self.misses, reconnects=0,
            elapsed_s=now - self.started, fps=self.window.fps(now),
            frame_ms=self.window.frame_ms(), frame_age_ms=self.window.frame_age_ms(),
            last_frame_at=self.window.last_finished_at, latest_frame=self.window.latest_frame,
        )

    def histograms(self) -> FrameHistograms:
        return self.pair


# -- the clients (a separate process, driven over its stdin) -----------------------------------


class ClientBlock:
    """``clients`` pollers and their streams, from ``start()`` until ``stop()``."""

    def __init__(
        self, host: str, port: int, clients: int, rate: float, paths: list[str], views: list[str]
    ) -> None:
        self.host, self.port, self.rate, self.paths = host, port, rate, paths
        self.stopping = threading.Event()
        self.started = threading.Barrier(clients + 1)
        self.lock = threading.Lock()
        self.requests = 0
        self.errors: dict[str, int] = {}
        self.streams: list[http.client.HTTPConnection] = []
        self.threads = [threading.Thread(target=self.poll, daemon=True) for _ in range(clients)]
        self.threads += [
            threading.Thread(target=self.stream, args=("/events",), daemon=True)
            for _ in range(clients)
        ]
        self.threads += [
            threading.Thread(target=self.stream, args=(path,), daemon=True) for path in views
        ]

    def failed(self, path: str, exc: Exception) -> None:
        if not self.stopping.is_set():
            with self.lock:
                kind = f"{path}: {type(exc).__name__}"
                self.errors[kind] = self.errors.get(kind, 0) + 1

    def poll(self) -> None:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=10)
        first, done, next_at = True, 0, time.monotonic()
        while not self.stopping.is_set():
            for path in self.paths:
                try:
                    connection.request("GET", path)
                    connection.getresponse().read()
                    done += 1
                except (OSError, http.client.HTTPException) as exc:
                    self.failed(path, exc)
                    connection.close()
            if first:
                self.started.wait()
                first = False
            next_at = max(next_at + 1 / self.rate, time.monotonic())
            self.stopping.wait(max(0.0, next_at - time.monotonic()))
        connection.close()
        with self.lock:
            self.requests += done

    def stream(self, path: str) -> None:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=10)
        with self.lock:
            self.streams.append(connection)
        try:
            connection.request("GET", path)
            reply = connection.getresponse()
            while not self.stopping.is_set() and reply.read1(65536):
                pass
        except (OSError, http.client.HTTPException, ValueError) as exc:
            self.failed(path, exc)  # ValueError: closed by stop() while reading

    def start(self) -> None:
        for thread in self.threads:
            thread.start()
        self.started.wait()
        self.began = time.monotonic()

    def stop(self) -> dict[str, Any]:
        seconds = time.monotonic() - self.began
        self.stopping.set()
        with self.lock:
            streams = list(self.streams)
        for connection in streams:
            connection.close()  # wakes the reader
        for thread in self.threads:
            thread.join(timeout=10)
        return {"requests": self.requests, "seconds": seconds, "errors": self.errors}


def run_clients(url: str, clients: int, rate: float, streams: int) -> int:
    """Answer "go" (start the clients, then say "ready") and "pause" (stop, print the counts)."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    block: ClientBlock | None = None
    for line in sys.stdin:
        if line.strip() == "go":
            block = ClientBlock(host, port, clients, rate, polled(streams), watched(streams))
            block.start()
            print("ready", flush=True)
        elif line.strip() == "pause" and block is not None:
            print(json.dumps(block.stop()), flush=True)
            block = None
    return 0


class Clients:
    """The client process: ``go()`` and ``pause()`` around each clients block."""

    def __init__(self, url: str, clients: int, rate: float, streams: int) -> None:
        command = [
            sys.executable, __file__, "--client", url, "--clients", str(clients),
            "--rate", str(rate), "--streams", str(streams),
        ]
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def _say(self, word: str) -> str:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(word + "\n")
        self.process.stdin.flush()
        answer = self.process.stdout.readline()
        if not answer:
            raise RuntimeError(f"the client process ended (exit code {self.process.wait()})")
        return answer

    def go(self) -> None:
        self._say("go")

    def pause(self) -> dict[str, Any]:
        counts: dict[str, Any] = json.loads(self._say("pause"))
        return counts

    def close(self) -> None:
        try:
            self.process.communicate(timeout=30)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait(timeout=10)


# -- the measurement ----------------------------------------------------------------------------


@dataclass
class Result:
    idle_ms: list[float]
    clients_ms: list[float]
    pair_ratios: list[float]
    requests_per_s: list[float]
    errors: dict[str, int]


def measure(args: argparse.Namespace) -> Result:
    source = open_source(args.source)
    frames: list[Frame] = []
    while len(frames) < args.distinct_frames and (frame := source.read()) is not None:
        frames.append(frame)
    source.release()
    loops = [PacedLoop(frames, args.processor, args.source) for _ in range(args.streams)]
    result = Result([], [], [], [], {})
    with tempfile.TemporaryDirectory() as log_dir:
        log = configure(log_dir=log_dir)
        streams = dict(zip(stream_names(args.streams), loops, strict=True))
        with serve(port=0, streams=streams, logger=log) as server:
            clients = Clients(server.url, args.clients, args.rate, args.streams)
            try:
                run_all(loops, 2 * args.block_frames, log)  # warm-up: caches, threads, JPEGs
                clients.go()
                clients.pause()
                for pair in range(args.pairs):
                    order = ("idle", "clients") if pair % 2 == 0 else ("clients", "idle")
                    p50 = {}
                    for kind in order:
                        if kind == "clients":
                            clients.go()
                        gc.disable()
                        try:
                            times = run_all(loops, args.block_frames, log)
                        finally:
                            gc.enable()
                        (result.clients_ms if kind == "clients" else result.idle_ms).extend(times)
                        p50[kind] = statistics.median(times)
                        if kind == "clients":
                            counts = clients.pause()
                            result.requests_per_s.append(counts["requests"] / counts["seconds"])
                            for error, n in counts["errors"].items():
                                result.errors[error] = result.errors.get(error, 0) + n
                    result.pair_ratios.append(p50["idle"] / p50["clients"])
                    print(
                        f"  pair {pair + 1:3}: p50 idle {p50['idle']:6.3f} ms, "
                        f"clients {p50['clients']:6.3f} ms "
                        f"({result.requests_per_s[-1]:6.0f} requests/s)",
                        flush=True,
                    )
            finally:
                clients.close()
        log.stop()
    return result


def run_all(loops: Sequence[PacedLoop], count: int, log: Any) -> list[float]:
    """``count`` frames of every loop at once, each on a thread; every loop's times."""
    if len(loops) == 1:
        return loops[0].run(count, log)
    results: list[list[float]] = [[] for _ in loops]

    def one(index: int) -> None:
        results[index] = loops[index].run(count, log)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(loops))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return [value for times in results for value in times]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--rate", type=float, default=20.0, help="polls of each endpoint per s")
    parser.add_argument("--block-frames", type=int, default=30, help="frames per block (1 s)")
    parser.add_argument("--pairs", type=int, default=30, help="idle/clients block pairs")
    parser.add_argument("--processor", default="motion")
    parser.add_argument("--source", default="synthetic:1280x720@30:2")
    parser.add_argument("--distinct-frames", type=int, default=60)
    parser.add_argument("--cv-threads", type=int, help="cv2.setNumThreads for the processor")
    parser.add_argument("--streams", type=int, default=1, help="frame loops, a preview each")
    parser.add_argument("--min-ratio", type=float, default=0.95, help="p50 idle / with clients")
    parser.add_argument("--json", help="write the figures here")
    parser.add_argument("--client", help=argparse.SUPPRESS)  # the client process's own mode
    args = parser.parse_args(argv)
    if args.client:
        return run_clients(args.client, args.clients, args.rate, args.streams)
    if args.cv_threads is not None:
        import cv2

        cv2.setNumThreads(args.cv_threads)

    print(
        f"monitor load: {plural_streams(args.streams)}, {args.clients} clients x {args.rate:g} "
        f"polls/s of {len(polled(args.streams))} URLs (+ /events open each), {VIEWERS} MJPEG "
        f"viewers, {args.processor} on {args.source}, {args.pairs} pairs of "
        f"{args.block_frames}-frame blocks",
        flush=True,
    )
    result = measure(args)
    idle = statistics.median(result.idle_ms)
    loaded = statistics.median(result.clients_ms)
    ratio = idle / loaded
    q1, _, q3 = statistics.quantiles(result.pair_ratios, n=4)
    served = statistics.median(result.requests_per_s)
    verdict = "at or above" if ratio >= args.min_ratio else "BELOW"
    print(
        f"p50 frame time: idle {idle:.3f} ms, with clients {loaded:.3f} ms: "
        f"ratio idle / clients {ratio:.4f} ({verdict} {args.min_ratio:g}); per-pair ratios: median "
        f"{statistics.median(result.pair_ratios):.4f}, quartiles {q1:.4f} to {q3:.4f}\n"
        f"p99 frame time: idle {_p99(result.idle_ms):.3f} ms, "
        f"with clients {_p99(result.clients_ms):.3f} ms; "
        f"{served:.0f} requests/s served; client errors: {result.errors or 'none'}"
    )
    if args.json:
        figures = {
            "idle_p50_ms": idle, "clients_p50_ms": loaded, "ratio": ratio,
            "pair_ratios": result.pair_ratios, "requests_per_s": result.requests_per_s,
            "errors": result.errors,
            "settings": {k: v for k, v in vars(args).items() if k != "client"},
        }
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(figures, out, indent=2)
    return 0 if ratio >= args.min_ratio else 1


def plural_streams(count: int) -> str:
    return "1 stream" if count == 1 else f"{count} streams"


def _p99(values: Sequence[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


if __name__ == "__main__":
    raise SystemExit(main())
