"""What a busy stats server costs the frame loops: p50 frame time with and without clients.

    python benchmarks/monitor_load.py                      # one stream, 60 pairs
    python benchmarks/monitor_load.py --streams 2          # two streams, a preview each
    python benchmarks/monitor_load.py --ceiling --json monitor_load.json

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
ratios' quartiles beside it. A block's p50 is bimodal on the shared 2-core VM (some seconds
run about 1 ms slower throughout, whatever the kind of block), so the figure needs enough pairs
for the share of slow blocks to even out between the kinds: 60 by default. Several streams share
this process's GIL here, which makes their figure a worst case: in ``framepipe run A B`` each
loop has a worker process of its own.

The clients share this machine's cores with the loops, so part of what they cost is their own
CPU, which no server can save. ``--ceiling`` measures that part in the same run: a third kind of
block in which the same clients poll a null server (a separate process replaying bytes the real
server answered once, doing no other work). Its ratio (idle over null-server blocks) is the
ceiling any server could reach here; the server's own cost is the null-server blocks' p50 over
the real server's. With ``--ceiling`` the goal applies to the server's own cost.
"""

from __future__ import annotations

import argparse
import gc
import http.client
import http.server
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar
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


# -- the null server (a separate process replaying recorded answers) ---------------------------


def record_answers(url: str, streams: int) -> dict[str, str]:
    """One answer of the real server for each polled URL, and a frame for the MJPEG viewers."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    answers = {}
    for path in [*polled(streams), "/frame.jpg" if streams == 1 else polled(streams)[-1]]:
        connection.request("GET", path)
        answers[path] = connection.getresponse().read().hex()
    connection.close()
    return answers


class NullHandler(http.server.BaseHTTPRequestHandler):
    """Answers every GET with recorded bytes: no snapshot, no JSON, no JPEG encoding."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # as the real server: no delayed-ACK wait between writes
    answers: ClassVar[dict[str, bytes]] = {}
    jpeg = b""

    def do_GET(self) -> None:
        if self.path == "/events" or self.path.endswith("stream.mjpg"):
            self._stream(self.path == "/events")
            return
        body = self.answers.get(self.path, b"")
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _stream(self, events: bool) -> None:
        self.send_response(200)
        self.send_header("Connection", "close")
        self.end_headers()
        part = b"data: {}\n\n" if events else (
            b"--frame\r\nContent-Type: image/jpeg\r\n\r\n" + self.jpeg + b"\r\n"
        )
        try:
            while True:
                self.wfile.write(part)
                self.wfile.flush()
                time.sleep(1.0 if events else 0.25)
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:
        pass


def run_null_server() -> int:
    """Serve the answers read from stdin (a JSON line each time, replacing the last) until stdin
    closes; print the port once the first answers are in, then "ok" after each next line."""
    server: http.server.ThreadingHTTPServer | None = None
    for line in sys.stdin:
        answers = {path: bytes.fromhex(body) for path, body in json.loads(line).items()}
        NullHandler.answers = answers
        NullHandler.jpeg = answers.get("/frame.jpg") or max(answers.values(), key=len)
        if server is None:
            server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NullHandler)
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, daemon=True).start()
            print(server.server_address[1], flush=True)
        else:
            print("ok", flush=True)
    if server is not None:  # stdin closed: the parent is done, or gone
        server.shutdown()
    return 0


class Child:
    """This script in another mode, in a process of its own, talked to one line at a time."""

    def __init__(self, *arguments: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, *arguments],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )

    def say(self, line: str) -> str:
        """Write ``line``; the line it answers."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        answer = self.process.stdout.readline()
        if not answer:
            raise RuntimeError(f"{self.process.args[2]} ended (exit code {self.process.wait()})")
        return answer

    def close(self) -> None:
        try:
            self.process.communicate(timeout=30)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait(timeout=10)


class NullServer(Child):
    """The null server's process; ``url`` to point clients at, ``replay()`` new answers."""

    def __init__(self, answers: dict[str, str]) -> None:
        super().__init__("--null-server")
        self.url = f"http://127.0.0.1:{int(self.say(json.dumps(answers)))}/"

    def replay(self, answers: dict[str, str]) -> None:
        """Answer these from now on: the real server's answers grow (``/history``), and the
        null server must move as many bytes as it does."""
        self.say(json.dumps(answers))


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


class Clients(Child):
    """The client process: ``go()`` and ``pause()`` around each clients block."""

    def __init__(self, url: str, clients: int, rate: float, streams: int) -> None:
        super().__init__(
            "--client", url, "--clients", str(clients), "--rate", str(rate),
            "--streams", str(streams),
        )  # fmt: skip

    def go(self) -> None:
        self.say("go")

    def pause(self) -> dict[str, Any]:
        counts: dict[str, Any] = json.loads(self.say("pause"))
        return counts


# -- the measurement ----------------------------------------------------------------------------


@dataclass
class Result:
    idle_ms: list[float]
    clients_ms: list[float]
    pair_ratios: list[float]
    requests_per_s: list[float]
    errors: dict[str, int]
    null_ms: list[float] = field(default_factory=list)  # with --ceiling: clients on the null server
    null_pair_ratios: list[float] = field(default_factory=list)  # idle / null, per round
    null_requests_per_s: list[float] = field(default_factory=list)


def block_order(round_index: int, ceiling: bool) -> tuple[str, ...]:
    """A B B A (or, with the null server, the three kinds in a rotating, reversing order)."""
    if not ceiling:
        return ("idle", "clients") if round_index % 2 == 0 else ("clients", "idle")
    kinds = ("idle", "clients", "null")
    turned = kinds[round_index % 3:] + kinds[: round_index % 3]
    return turned if (round_index // 3) % 2 == 0 else tuple(reversed(turned))


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
            run_all(loops, 2 * args.block_frames, log)  # warm-up: caches, threads, JPEGs
            null = NullServer(record_answers(server.url, args.streams)) if args.ceiling else None
            clients = {"clients": Clients(server.url, args.clients, args.rate, args.streams)}
            if null is not None:
                clients["null"] = Clients(null.url, args.clients, args.rate, args.streams)
            try:
                for warm in clients.values():
                    warm.go()
                    warm.pause()
                for pair in range(args.pairs):
                    p50 = {}
                    for kind in block_order(pair, null is not None):
                        if kind == "null" and null is not None:
                            null.replay(record_answers(server.url, args.streams))
                        if kind != "idle":
                            clients[kind].go()
                        gc.disable()
                        try:
                            times = run_all(loops, args.block_frames, log)
                        finally:
                            gc.enable()
                        {"idle": result.idle_ms, "clients": result.clients_ms,
                         "null": result.null_ms}[kind].extend(times)
                        p50[kind] = statistics.median(times)
                        if kind != "idle":
                            counts = clients[kind].pause()
                            rate = counts["requests"] / counts["seconds"]
                            if kind == "clients":
                                result.requests_per_s.append(rate)
                            else:
                                result.null_requests_per_s.append(rate)
                            for error, n in counts["errors"].items():
                                key = error if kind == "clients" else f"null server {error}"
                                result.errors[key] = result.errors.get(key, 0) + n
                    result.pair_ratios.append(p50["idle"] / p50["clients"])
                    null_note = ""
                    if "null" in p50:
                        result.null_pair_ratios.append(p50["idle"] / p50["null"])
                        null_note = f", null server {p50['null']:6.3f} ms"
                    print(
                        f"  round {pair + 1:3}: p50 idle {p50['idle']:6.3f} ms, "
                        f"clients {p50['clients']:6.3f} ms{null_note} "
                        f"({result.requests_per_s[-1]:6.0f} requests/s)",
                        flush=True,
                    )
            finally:
                for each in clients.values():
                    each.close()
                if null is not None:
                    null.close()
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
    parser.add_argument("--pairs", type=int, default=60, help="rounds of blocks, one of each kind")
    parser.add_argument("--processor", default="motion")
    parser.add_argument("--source", default="synthetic:1280x720@30:2")
    parser.add_argument("--distinct-frames", type=int, default=60)
    parser.add_argument("--cv-threads", type=int, help="cv2.setNumThreads for the processor")
    parser.add_argument("--streams", type=int, default=1, help="frame loops, a preview each")
    parser.add_argument("--min-ratio", type=float, default=0.95, help="p50 idle / with clients")
    parser.add_argument(
        "--ceiling", action="store_true",
        help="also run the clients against a null server: what the clients alone cost",
    )
    parser.add_argument("--json", help="write the figures here")
    parser.add_argument("--client", help=argparse.SUPPRESS)  # the client process's own mode
    parser.add_argument("--null-server", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.client:
        return run_clients(args.client, args.clients, args.rate, args.streams)
    if args.null_server:
        return run_null_server()
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
    goal = ratio
    verdict = "at or above" if ratio >= args.min_ratio else "BELOW"
    print(
        f"p50 frame time: idle {idle:.3f} ms, with clients {loaded:.3f} ms: "
        f"ratio idle / clients {ratio:.4f}"
        f"{'' if args.ceiling else f' ({verdict} {args.min_ratio:g})'}; per-round ratios: median "
        f"{statistics.median(result.pair_ratios):.4f}, quartiles {q1:.4f} to {q3:.4f}\n"
        f"p99 frame time: idle {_p99(result.idle_ms):.3f} ms, "
        f"with clients {_p99(result.clients_ms):.3f} ms; "
        f"{served:.0f} requests/s served; client errors: {result.errors or 'none'}"
    )
    figures: dict[str, Any] = {
        "idle_p50_ms": idle, "clients_p50_ms": loaded, "ratio": ratio,
        "pair_ratios": result.pair_ratios, "requests_per_s": result.requests_per_s,
        "errors": result.errors,
    }
    if args.ceiling:
        null = statistics.median(result.null_ms)
        ceiling, goal = idle / null, null / loaded
        verdict = "at or above" if goal >= args.min_ratio else "BELOW"
        n1, _, n3 = statistics.quantiles(result.null_pair_ratios, n=4)
        print(
            f"ceiling (the same clients on a null server): p50 {null:.3f} ms, idle / null "
            f"{ceiling:.4f} (per-round quartiles {n1:.4f} to {n3:.4f}; "
            f"{statistics.median(result.null_requests_per_s):.0f} requests/s served)\n"
            f"the server's own cost, null / clients: {goal:.4f} ({verdict} {args.min_ratio:g})"
        )
        figures |= {
            "null_p50_ms": null, "ceiling": ceiling, "server_ratio": goal,
            "null_pair_ratios": result.null_pair_ratios,
            "null_requests_per_s": result.null_requests_per_s,
        }
    if args.json:
        figures["settings"] = {
            k: v for k, v in vars(args).items() if k not in ("client", "null_server")
        }
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(figures, out, indent=2)
    return 0 if goal >= args.min_ratio else 1


def plural_streams(count: int) -> str:
    return "1 stream" if count == 1 else f"{count} streams"


def _p99(values: Sequence[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


if __name__ == "__main__":
    raise SystemExit(main())
