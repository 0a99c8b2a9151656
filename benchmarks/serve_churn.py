"""A service whose streams change while it runs: how fast a stream added through the API starts,
and what adding and deleting streams costs a stream that is left alone.

    python benchmarks/serve_churn.py                      # 20 adds, 4 quiet + 4 churn phases
    python benchmarks/serve_churn.py --adds 40 --phases 6 --json serve_churn.json

A real ``framepipe serve`` process runs one stream from its config file (``edges`` on a
320x240 scene at 30 FPS, realtime), and everything goes through its HTTP API, as a client
would drive it. Two figures:

- **POST to first frame**: ``POST /streams`` (a ``synthetic:`` scene) to the first processed
  frame of the new stream, seen by polling ``GET /streams/NAME`` every 5 ms, for ``--adds``
  streams added one after another (each deleted again before the next); p50 and p95.
- **An untouched stream's frame p99 under churn**: phases of 300 frames of the file's stream
  (its snapshot's window: 10 s) alternate between quiet (nothing else happens) and churn
  (streams added through the API, run to their first frame and deleted, one after another, for
  the whole phase, back to back, or ``--churn-interval`` seconds apart); at each phase's end
  its ``frame_ms`` p99 in ``/system-resources`` covers that phase's frames. Every phase polls
  the API at the same pace (every 50 ms), so that only the churn differs. The medians of the
  quiet and the churn phases and their ratio are printed; the goal is churn <= 1.1x quiet.
  Exit 1 when it is not met.

``--ceiling`` adds a third kind of phase to the same interleaved rounds: *null churn*, a plain
process started as often, with no framepipe in it (forked from a fork server that imported
numpy and OpenCV, as the service's workers are; it renders and diffs 64x48 frames at 30 FPS
from its start for as long as an add/delete cycle takes, then is stopped), the API polled as
in the others. null / quiet is the ceiling: what starting processes that often costs the
untouched stream on this machine, whoever starts them. churn / null is the service's own cost.
With ``--ceiling`` the goal is asserted on the service's own cost (the churn cannot cost less
than the null churn does); both ratios are printed.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

WINDOW_FRAMES = 300  # the frames a snapshot's percentiles cover
UNTOUCHED = "synthetic:320x240@30:36000"
CHURNED = "synthetic:64x48@30:36000"
GOAL_RATIO = 1.1
POLL_S = 0.005  # for the time to a first frame
PHASE_POLL_S = 0.05  # in every phase, so that the API's load is the same in each
TOKEN = "benchmark-token"


class Service:
    """``framepipe serve`` on a free port with one untouched stream; its API over HTTP."""

    def __init__(self, workdir: Path) -> None:
        (workdir / "token").write_text(TOKEN)
        config = workdir / "cameras.toml"
        config.write_text(
            f'[log]\ndir = "{(workdir / "logs").as_posix()}"\n\n'
            f'[server]\nport = 0\napi_token_file = "{(workdir / "token").as_posix()}"\n\n'
            f'[[stream]]\nname = "untouched"\nsource = "{UNTOUCHED}"\nprocessor = "edges"\n'
            "realtime = true\n"
        )
        self.err = workdir / "err.txt"
        with self.err.open("w") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "framepipe", "serve", "--config", str(config)],
                stdout=subprocess.DEVNULL, stderr=stderr,
            )  # fmt: skip
        url = _wait(self._url, "the service's address", 60.0)
        parts = urlsplit(url)
        self._connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)

    def _url(self) -> str | None:
        if self.process.poll() is not None:
            raise RuntimeError(f"framepipe serve ended: {self.err.read_text()}")
        for line in self.err.read_text().splitlines():
            if "stats server on " in line:
                return line.split("stats server on ", 1)[1].strip()
        return None

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {TOKEN}"} if method != "GET" else {}
        data = None if body is None else json.dumps(body).encode()
        self._connection.request(method, path, body=data, headers=headers)
        reply = self._connection.getresponse()
        payload = reply.read()
        return reply.status, json.loads(payload) if payload else None

    def frames(self, name: str) -> int:
        status, stream = self.call("GET", f"/streams/{name}")
        return int(stream["state"]["frames_processed"]) if status == 200 else 0

    def untouched(self) -> dict[str, Any]:
        _, document = self.call("GET", "/system-resources")
        return next(s for s in document["streams"] if s["stream"] == "untouched")

    def first_frame_s(self, name: str, poll_s: float = POLL_S) -> float:
        """POST ``name``; the seconds until the API shows its first processed frame (polled
        every ``poll_s``)."""
        started = time.perf_counter()
        status, answer = self.call("POST", "/streams", {"name": name, "source": CHURNED,
                                                       "realtime": True})  # fmt: skip
        if status != 201:
            raise RuntimeError(f"POST /streams answered {status}: {answer}")
        while self.frames(name) == 0:
            if time.perf_counter() - started > 60:
                raise RuntimeError(f"{name} processed no frame within 60 s")
            time.sleep(poll_s)
        return time.perf_counter() - started

    def delete(self, name: str) -> None:
        status, answer = self.call("DELETE", f"/streams/{name}")
        if status != 204:
            raise RuntimeError(f"DELETE /streams/{name} answered {status}: {answer}")

    def stop(self) -> int:
        self._connection.close()
        self.process.terminate()
        try:
            return self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(10)


@dataclass
class Churn:
    """The add/delete cycles so far, and how long each took (a null cycle lasts as long)."""

    interval_s: float
    cycles_s: list[float] = field(default_factory=list)


def _phase(service: Service, kind: str, churn: Churn) -> float:
    """Run one phase of ``WINDOW_FRAMES`` untouched frames; its p99 frame time (ms).

    ``kind``: ``quiet``, ``churn`` (streams added and deleted through the API) or ``null`` (a
    plain process started and stopped as often)."""
    start = service.untouched()["frames_processed"]
    while service.untouched()["frames_processed"] < start + WINDOW_FRAMES:
        if kind == "churn":
            began = time.perf_counter()
            name = f"churn-{len(churn.cycles_s) + 1}"
            service.first_frame_s(name, PHASE_POLL_S)
            service.delete(name)
            churn.cycles_s.append(time.perf_counter() - began)
            time.sleep(churn.interval_s)
        elif kind == "null":
            _null_cycle(service, statistics.median(churn.cycles_s))
            time.sleep(churn.interval_s)
        else:
            time.sleep(PHASE_POLL_S)
    return float(service.untouched()["frame_ms"]["p99"])


def _null_cycle(service: Service, cycle_s: float) -> None:
    """A plain process started, polled for as an added stream is, and stopped as long after
    its start as an add/delete cycle takes."""
    began = time.perf_counter()
    ours, theirs = _FORKSERVER.Pipe(duplex=False)
    process = _FORKSERVER.Process(target=_null_worker, args=(theirs,))
    process.start()
    theirs.close()
    try:
        while not ours.poll(0) or time.perf_counter() - began < cycle_s:
            service.untouched()  # the GET an added stream's poll makes
            if not process.is_alive():
                raise RuntimeError(f"the null process ended with {process.exitcode}")
            time.sleep(PHASE_POLL_S)
    finally:
        process.terminate()
        process.join(10)
        ours.close()


def _null_worker(ready: Any) -> None:
    """Render and diff 64x48 frames at 30 FPS; say so after the first; run until stopped."""
    import cv2
    import numpy as np

    rng = np.random.default_rng()
    previous = np.zeros((48, 64, 3), np.uint8)
    next_at = time.perf_counter()
    first = True
    while True:
        frame = rng.integers(0, 256, (48, 64, 3), np.uint8)
        cv2.absdiff(frame, previous)
        previous = frame
        if first:
            ready.send(True)
            first = False
        next_at += 1 / 30
        time.sleep(max(0.0, next_at - time.perf_counter()))


# The null churn's processes come from a fork server that imported numpy and OpenCV first, as
# the service's workers do from theirs.
_FORKSERVER = multiprocessing.get_context("forkserver")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def _commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _wait(condition: Callable[[], Any], what: str, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--adds", type=int, default=20, help="streams added for the first figure")
    parser.add_argument("--phases", type=int, default=4, help="quiet and churn phases, each")
    parser.add_argument(
        "--churn-interval", type=float, default=0.0, metavar="S",
        help="seconds between add/delete cycles in churn phases (default: back to back)",
    )
    parser.add_argument(
        "--ceiling", action="store_true",
        help="add null-churn phases (a plain process started as often) and assert the goal on "
        "churn / null",
    )
    parser.add_argument("--json", metavar="FILE", help="write the figures as JSON")
    args = parser.parse_args(argv)
    if args.ceiling:
        _FORKSERVER.set_forkserver_preload(["numpy", "cv2"])
    kinds = ["quiet", "churn", *(["null"] if args.ceiling else [])]
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as workdir:
        service = Service(Path(workdir))
        try:
            _wait(lambda: service.untouched()["frames_processed"] > 0, "the first frame", 60.0)
            first_frames = []
            for index in range(args.adds):
                first_frames.append(service.first_frame_s(f"add-{index}"))
                service.delete(f"add-{index}")
            churn = Churn(args.churn_interval)
            phases: dict[str, list[float]] = {kind: [] for kind in kinds}
            for _ in range(args.phases):  # interleaved: quiet, churn[, null], quiet, churn ...
                for kind in kinds:
                    phases[kind].append(_phase(service, kind, churn))
        finally:
            code = service.stop()
    if code != 0:
        raise RuntimeError(f"framepipe serve exited with {code}")
    medians = {kind: statistics.median(values) for kind, values in phases.items()}
    untouched: dict[str, Any] = {kind: [round(v, 3) for v in phases[kind]] for kind in kinds}
    untouched.update({f"{kind}_median": round(medians[kind], 3) for kind in kinds})
    untouched["ratio"] = round(medians["churn"] / medians["quiet"], 3)
    if args.ceiling:
        untouched["ceiling"] = round(medians["null"] / medians["quiet"], 3)
        untouched["own_cost"] = round(medians["churn"] / medians["null"], 3)
    untouched["churn_cycles"] = len(churn.cycles_s)
    untouched["churn_cycle_ms"] = round(1000 * statistics.median(churn.cycles_s), 1)
    untouched["churn_interval_s"] = args.churn_interval
    first: dict[str, Any] = {
        "p50": round(1000 * statistics.median(first_frames), 1),
        "p95": round(1000 * _percentile(first_frames, 95), 1),
        "n": len(first_frames),
    }
    figures: dict[str, Any] = {
        "post_to_first_frame_ms": first,
        "untouched_p99_ms": untouched,
        "load_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "commit": _commit(),
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
    }
    p99 = untouched
    print(f"commit {figures['commit']}")
    print(f"POST to first frame: p50 {first['p50']} ms, p95 {first['p95']} ms ({first['n']} adds)")
    for kind in kinds:
        print(f"untouched p99, {kind} phases: {p99[kind]} ms (median {p99[f'{kind}_median']} ms)")
    print(f"{p99['churn_cycles']} add/delete cycles, {p99['churn_cycle_ms']} ms each (median)")
    print(f"churn / quiet: {p99['ratio']} (goal <= {GOAL_RATIO})")
    judged = p99["ratio"]
    if args.ceiling:
        print(f"ceiling (null / quiet): {p99['ceiling']}; "
              f"the service's own cost (churn / null): {p99['own_cost']}")  # fmt: skip
        judged = p99["own_cost"]
    met = judged <= GOAL_RATIO
    print(f"goal {'met' if met else 'NOT met'}")
    print(f"load average before/after: {figures['load_before_after']}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
