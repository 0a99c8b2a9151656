"""Soak: does a long run, or a long life of short runs, leak memory, threads or files?

    python benchmarks/soak.py                          # 10 min at 30 FPS, log every frame
    python benchmarks/soak.py --duration 30 --pipelines 1000 --json soak.json --plot soak.png
    python benchmarks/soak.py --frames 2600000 --plot day.png     # a compressed day
    python benchmarks/soak.py --scenario streams                  # 4 streams, killed, polled

Five scenarios; by default ``long`` and ``churn``, with ``--frames`` ``day`` and ``attempts``:

- ``long``: one pipeline on the synthetic scene paced at its frame rate (``--realtime``), the
  ``edges`` processor and a log record per frame. A sampler thread reads the process's RSS,
  thread count and open file descriptors every second. After a warm-up (the first fifth of the
  run, at least 5 s) the samples must stay flat: RSS grows by less than ``--max-rss-growth-mb``
  (median of the last ten samples against the median of the first ten after warm-up), and the
  thread and descriptor counts never exceed what they were when warm-up ended.
- ``churn``: ``--pipelines`` short pipelines created and run one after another (a few frames
  each): afterwards the process has the threads, descriptors and logging handlers it had before,
  and RSS within the same bound.
- ``day``: ``--frames`` frames (2,600,000 is a day at 30 FPS) of a small synthetic scene as fast
  as they go, the ``none`` processor and a record every 30th frame; judged as ``long``.
- ``attempts``: ``--attempts`` stream attempts in one supervisor, four streams whose workers fail
  after ten frames and are restarted at once (real worker processes, one log channel); the
  supervisor's process judged as ``long`` for RSS; its threads and descriptors, which rise and
  fall with each worker, by their floor over the last ten samples against the first ten.
- ``streams``: ``framepipe run`` with ``--streams`` paced streams and the stats server for
  ``--duration``, a worker SIGKILLed every ``--kill-every`` seconds and ``/system-resources``
  polled ``--poll-hz`` times a second: counters never go down (there or in ``/metrics``), the
  command and its stats server flat, its processes no more than at warm-up's end, and every
  record accounted for (each worker's records numbered without a gap, the log as long as the
  command says it wrote, none dropped).

RSS bounds (``--max-rss-growth-mb`` sets one for all): 2 MB for ``long`` and ``churn``, 5 MB for
``day`` and ``attempts``, 20 MB for ``streams``. Each scenario prints its RSS curve; ``--plot``
draws them. Exit code 0 when all stay flat, 1 when one does not; the table says which.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import logging
import multiprocessing
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

from framepipe import Pipeline
from framepipe.logging import configure

SAMPLE_EVERY_S = 1.0
ATTEMPT_STREAMS = 4  # streams in the attempts scenario, restarted side by side
DAY_FRAME = "64x48"  # the compressed day's frames: small, so a day of them takes minutes


@dataclass
class Sample:
    t_s: float
    rss_mb: float
    threads: int
    fds: int
    processes: int = 1  # the process and its children (the streams scenario's tree)


@dataclass
class Verdict:
    scenario: str
    rss_growth_mb: float
    thread_growth: int
    fd_growth: int
    handler_growth: int
    frames: int
    ok: bool
    samples: list[Sample] = field(default_factory=list)
    wall_s: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)


def sample(process: psutil.Process, started: float) -> Sample:
    return Sample(
        t_s=round(time.monotonic() - started, 2),
        rss_mb=process.memory_info().rss / 2**20,
        threads=threading.active_count(),
        fds=process.num_fds(),
    )


class Sampler:
    """Samples this process every second on a daemon thread until stopped."""

    def __init__(self) -> None:
        self.samples: list[Sample] = []
        self._process = psutil.Process()
        self._stop = threading.Event()
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="soak-sampler", daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5.0)

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY_S):
            self.samples.append(sample(self._process, self._started))


def long_run(
    duration_s: float, max_growth_mb: float, log_dir: Path, frames: int | None = None
) -> Verdict:
    """One pipeline, flat after warm-up or not: ``duration_s`` paced at 30 FPS with ``edges``
    and a record per frame, or (``frames``) that many frames as fast as they go with ``none``
    and a record every 30th: a compressed day."""
    log = configure(log_dir=str(log_dir), queue_size=10_000)
    try:
        if frames is None:
            scenario = "long"
            pipeline = Pipeline(
                f"synthetic:640x360@30:{duration_s:g}",
                processor="edges",
                log_every=1,
                realtime=True,
            )
        else:
            scenario = "day"
            pipeline = Pipeline(
                f"synthetic:{DAY_FRAME}@30:{frames / 30 + 1:.3f}",
                processor="none",
                log_every=30,
                max_frames=frames,
            )
        with Sampler() as sampler:
            report = pipeline.run()
    finally:
        log.stop()
    samples = sampler.samples
    if len(samples) - max(5, len(samples) // 5) < 4:
        raise SystemExit(f"soak: the {scenario} run was too short to judge; make it >= 10 s")
    rss_growth, thread_growth, fd_growth = steady_growth(samples)
    return Verdict(
        scenario=scenario,
        rss_growth_mb=round(rss_growth, 2),
        thread_growth=thread_growth,
        fd_growth=fd_growth,
        handler_growth=0,
        frames=report.frames_processed,
        ok=rss_growth < max_growth_mb and thread_growth <= 0 and fd_growth <= 0,
        samples=samples,
        wall_s=samples[-1].t_s if samples else 0.0,
        details={"percentiles_estimated": report.percentiles_estimated,
                 "frame_ms": report.frame_ms},
    )  # fmt: skip


def steady_growth(samples: list[Sample]) -> tuple[float, int, int]:
    """RSS, thread and descriptor growth after warm-up (the first fifth, at least 5 samples):
    RSS as the median of the last ten samples against the median of the first ten, threads and
    descriptors as the most seen against the count when warm-up ended."""
    steady = samples[max(5, len(samples) // 5) :]
    window = min(10, len(steady) // 2)
    head, tail = steady[:window], steady[-window:]
    rss = statistics.median(s.rss_mb for s in tail) - statistics.median(s.rss_mb for s in head)
    threads = max(s.threads for s in steady) - steady[0].threads
    fds = max(s.fds for s in steady) - steady[0].fds
    return rss, threads, fds


def churn(pipelines: int, max_growth_mb: float, log_dir: Path) -> Verdict:
    """``pipelines`` short runs in a row; nothing left behind by any of them."""
    process = psutil.Process()
    log = configure(log_dir=str(log_dir), queue_size=10_000)
    frames = 0
    try:
        # Warm up allocator pools and OpenCV's thread pool before the baseline.
        for _ in range(50):
            frames += _short()
        gc.collect()
        before = sample(process, 0.0)
        handlers_before = _handler_count()
        for _ in range(pipelines):
            frames += _short()
        log.flush(10.0)
        gc.collect()
        after = sample(process, 0.0)
        handlers_after = _handler_count()
    finally:
        log.stop()
    rss_growth = after.rss_mb - before.rss_mb
    return Verdict(
        scenario="churn",
        rss_growth_mb=round(rss_growth, 2),
        thread_growth=after.threads - before.threads,
        fd_growth=after.fds - before.fds,
        handler_growth=handlers_after - handlers_before,
        frames=frames,
        ok=rss_growth < max_growth_mb
        and after.threads <= before.threads
        and after.fds <= before.fds
        and handlers_after <= handlers_before,
    )


def _short() -> int:
    report = Pipeline("synthetic:64x64@30:0.1", processor="gray", log_every=1).run()
    return report.frames_processed


def _handler_count() -> int:
    manager = logging.Logger.manager
    loggers = [logging.getLogger(), *manager.loggerDict.values()]
    return sum(len(lg.handlers) for lg in loggers if isinstance(lg, logging.Logger))


class FailAfter:
    """A processor that passes ten frames, then raises: every attempt of its stream fails and
    is restarted (the ``attempts`` scenario's workers import it as ``soak:FailAfter``)."""

    FRAMES = 10

    def __init__(self) -> None:
        self.frames = 0

    def __call__(self, frame: Any) -> Any:
        self.frames += 1
        if self.frames > self.FRAMES:
            raise RuntimeError("soak: this attempt fails on purpose")
        return frame


class _NoWait(random.Random):
    """Restart waits of zero: the jitter factor the supervisor draws is always 0."""

    def uniform(self, a: float, b: float) -> float:
        return 0.0


def attempt_churn(attempts: int, max_growth_mb: float, log_dir: Path) -> Verdict:
    """``attempts`` stream attempts in one supervisor: four streams whose every worker fails
    after ten frames and is restarted at once, each a real worker process logging through
    this process's log channel. The supervisor's process must stay flat after warm-up."""
    # The supervisor itself, not run_streams(): only it takes the source of its restart waits,
    # and a thousand restarts at the real 30 s backoff would take hours.
    from framepipe import PipelineConfig
    from framepipe.logging import address
    from framepipe.streams._supervisor import Supervisor
    from framepipe.streams.engine import LocalEngine
    from framepipe.streams.job import LogTarget, StreamJob

    log = configure(log_dir=str(log_dir), queue_size=10_000)
    per_stream = attempts // ATTEMPT_STREAMS
    try:
        target = LogTarget.channel(address())
        config = PipelineConfig(log_every=1)
        jobs = [
            StreamJob(f"churn-{i}", "synthetic:64x48@30:2", ("soak:FailAfter",), config,
                      cv_threads=1, log_target=target)
            for i in range(ATTEMPT_STREAMS)
        ]  # fmt: skip
        quiet = logging.getLogger("framepipe.soak.supervisor")
        # Workers forked from a server that imported the worker's modules once: an attempt
        # costs its run, not an interpreter's start-up, so a thousand take minutes.
        multiprocessing.set_forkserver_preload(["framepipe.streams._worker", "soak"])
        supervisor = Supervisor(
            jobs,
            LocalEngine("forkserver"),
            [per_stream - 1] * ATTEMPT_STREAMS,
            logger=quiet,
            rng=_NoWait(),
        )
        with Sampler() as sampler:
            report = supervisor.run()
        log.flush(10.0)
    finally:
        log.stop()
    samples = sampler.samples
    rss_growth, _, _ = steady_growth(samples)
    # Workers come and go, each with a pipe and a log connection while it lives: what stays is
    # the floor between them, which a leak would raise.
    steady = samples[max(5, len(samples) // 5) :]
    thread_growth = min(s.threads for s in steady[-10:]) - min(s.threads for s in steady[:10])
    fd_growth = min(s.fds for s in steady[-10:]) - min(s.fds for s in steady[:10])
    streams = report.to_dict()["streams"]
    started = sum(stream["restart_count"] + 1 for stream in streams)
    frames = report.total["frames_processed"]
    return Verdict(
        scenario="attempts",
        rss_growth_mb=round(rss_growth, 2),
        thread_growth=thread_growth,
        fd_growth=fd_growth,
        handler_growth=0,
        frames=frames,
        ok=rss_growth < max_growth_mb and thread_growth <= 0 and fd_growth <= 0
        and started == ATTEMPT_STREAMS * per_stream,
        samples=samples,
        wall_s=samples[-1].t_s if samples else 0.0,
        details={"attempts": started, "kept_in_summary": [len(s["restarts"]) for s in streams],
                 "frame_ms": report.to_dict()["total"]["frame_ms"]},
    )  # fmt: skip


# -- several streams under the command, killed and polled ----------------------------------------

_RECORD = re.compile(r"\[(?P<stream>\S+) (?P<pid>\d+) #(?P<seq>\d+)\]")


def several_streams(
    streams: int, duration_s: float, kill_every_s: float, poll_hz: float, max_growth_mb: float,
    log_dir: Path,
) -> Verdict:  # fmt: skip
    """``framepipe run`` with ``streams`` paced streams and the stats server for
    ``duration_s``; a worker SIGKILLed every ``kill_every_s`` (each stream in turn) and
    ``/system-resources`` polled ``poll_hz`` times a second (``/metrics`` once a second).

    Flat: counters never go down in either, the command's long-lived processes (it and its
    stats server) grow less than ``max_growth_mb`` after warm-up, its threads, descriptors and
    processes no more than at warm-up's end. Every record accounted for: each worker's records
    in the log are numbered 1, 2, ... with no gap, the log holds as many as the command says it
    wrote, and it dropped none.
    """
    port = _free_port()
    summary_path = log_dir / "summary.json"
    source = f"synthetic:320x240@30:{duration_s + 600:g}"  # outlasts the soak: it is stopped
    command = [
        sys.executable, "-m", "framepipe", "run", *[source] * streams, "--realtime",
        "--processor", "edges", "--log-every", "1", "--restart-attempts", "1000",
        "--stats-port", str(port), "--summary-json", str(summary_path),
        "--log-dir", str(log_dir), "--quiet",
    ]  # fmt: skip
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    poller = _Poller(f"http://127.0.0.1:{port}", poll_hz)
    process = psutil.Process(child.pid)
    samples: list[Sample] = []
    kills = 0
    started = time.monotonic()
    try:
        poller.start()
        next_sample, next_kill = started + SAMPLE_EVERY_S, started + kill_every_s
        while (now := time.monotonic()) < started + duration_s and child.poll() is None:
            if now >= next_kill:
                kills += _kill_one(poller.latest_pids(), kills)
                next_kill += kill_every_s
            if now >= next_sample:
                samples.append(_tree_sample(process, poller.latest_pids(), started))
                next_sample += SAMPLE_EVERY_S
            time.sleep(0.05)
        child.send_signal(signal.SIGINT)
        _out, err = child.communicate(timeout=60)
    finally:
        poller.stop()
        if child.poll() is None:
            child.kill()
            child.communicate(timeout=10)
    rss_growth, thread_growth, fd_growth = steady_growth(samples)
    steady = samples[max(5, len(samples) // 5) :]
    process_growth = max(s.processes for s in steady) - max(s.processes for s in steady[:10])
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    accounting = _account(log_dir, summary)
    final = {s["stream"]: s["frames_processed"] for s in summary.get("streams", [])}
    never_down = not poller.decreases and all(
        final.get(name, -1) >= seen for name, seen in poller.highest.items()
    )
    restarts = sum(s["restart_count"] for s in summary.get("streams", []))
    ok = (
        child.returncode == 0 and never_down and accounting["ok"] and restarts >= kills
        and rss_growth < max_growth_mb and thread_growth <= 0 and fd_growth <= 0
        and process_growth <= 0
    )  # fmt: skip
    return Verdict(
        scenario="streams",
        rss_growth_mb=round(rss_growth, 2),
        thread_growth=thread_growth,
        fd_growth=fd_growth,
        handler_growth=0,
        frames=summary.get("total", {}).get("frames_processed", 0),
        ok=ok,
        samples=samples,
        wall_s=samples[-1].t_s if samples else 0.0,
        details={
            "exit": child.returncode, "kills": kills, "restarts": restarts,
            "process_growth": process_growth, "polls": poller.polls,
            "poll_errors": poller.errors, "decreases": poller.decreases[:10],
            "records": accounting, "stderr_tail": err.splitlines()[-5:],
        },
    )  # fmt: skip


class _Poller:
    """GETs ``/system-resources`` ``hz`` times a second (and ``/metrics`` once a second) on a
    thread; remembers each stream's highest count and every time one went down."""

    def __init__(self, base: str, hz: float) -> None:
        self._base, self._period = base, 1.0 / hz
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="soak-poller", daemon=True)
        self.highest: dict[str, int] = {}
        self.metric_highest: dict[str, float] = {}
        self.decreases: list[str] = []
        self.polls = self.errors = 0
        self._pids: dict[str, int] = {}

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5.0)

    def latest_pids(self) -> dict[str, int]:
        return dict(self._pids)

    def _run(self) -> None:
        tick = 0
        due = time.monotonic()
        while not self._stop.wait(max(0.0, (due := due + self._period) - time.monotonic())):
            tick += 1
            try:
                document = json.loads(_get(self._base + "/system-resources"))
                self._check(document.get("streams", []))
                if tick % max(1, round(1 / self._period)) == 0:
                    self._check_metrics(_get(self._base + "/metrics").decode())
                self.polls += 1
            except (OSError, ValueError):
                self.errors += 1  # the server not up yet, or going down at the end

    def _check(self, entries: list[dict[str, Any]]) -> None:
        for entry in entries:
            name, count = entry["stream"], entry["frames_processed"]
            if count < self.highest.get(name, 0):
                self.decreases.append(f"{name}: {self.highest[name]} -> {count}")
            self.highest[name] = max(count, self.highest.get(name, 0))
            if entry.get("pid") is not None:
                self._pids[name] = entry["pid"]

    def _check_metrics(self, text: str) -> None:
        pattern = re.compile(r'^framepipe_frames_processed_total\{stream="([^"]+)"\} (\S+)$', re.M)
        for name, value in pattern.findall(text):
            count = float(value)
            if count < self.metric_highest.get(name, 0.0):
                self.decreases.append(f"/metrics {name}: {self.metric_highest[name]} -> {count}")
            self.metric_highest[name] = max(count, self.metric_highest.get(name, 0.0))


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5.0) as response:
        body: bytes = response.read()
    return body


def _kill_one(pids: dict[str, int], kills: int) -> int:
    """SIGKILL the worker of the next stream in turn; 1 if one was killed."""
    if not pids:
        return 0
    name = sorted(pids)[kills % len(pids)]
    try:
        os.kill(pids[name], signal.SIGKILL)
    except ProcessLookupError:
        return 0
    return 1


def _tree_sample(process: psutil.Process, workers: dict[str, int], started: float) -> Sample:
    """The command's long-lived processes (it and its stats server, not the workers, which
    restart): their RSS; its threads and descriptors; how many processes the tree has."""
    try:
        children = process.children(recursive=True)
        rss = process.memory_info().rss
        for child in children:
            if child.pid not in workers.values():
                with contextlib.suppress(psutil.Error):
                    rss += child.memory_info().rss
        return Sample(
            t_s=round(time.monotonic() - started, 2),
            rss_mb=rss / 2**20,
            threads=process.num_threads(),
            fds=process.num_fds(),
            processes=1 + len(children),
        )
    except psutil.Error:
        return Sample(round(time.monotonic() - started, 2), 0.0, 0, 0, 0)


def _account(log_dir: Path, summary: dict[str, Any]) -> dict[str, Any]:
    """Every record of the log: per worker, numbered from 1 without a gap; as many lines as
    the command says it wrote; none dropped."""
    seqs: dict[tuple[str, str], list[int]] = {}
    lines = 0
    for path in sorted(log_dir.glob("logs_*.txt*")):
        with path.open(errors="replace") as file:
            for line in file:
                match = _RECORD.search(line)
                if match is not None:
                    lines += 1
                    key = (match["stream"], match["pid"])
                    seqs.setdefault(key, []).append(int(match["seq"]))
    gaps = []
    for (stream, pid), numbers in seqs.items():
        numbers.sort()
        if numbers != list(range(1, len(numbers) + 1)):
            gaps.append(f"{stream} {pid}")
    log = summary.get("log", {})
    ok = (
        not gaps and lines == log.get("written") and log.get("dropped") == 0
        and log.get("errors") == 0
    )  # fmt: skip
    return {"ok": ok, "lines": lines, "written": log.get("written"),
            "dropped": log.get("dropped"), "errors": log.get("errors"),
            "senders": len(seqs), "with_gaps": gaps[:10]}  # fmt: skip


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def render(verdicts: list[Verdict]) -> str:
    lines = [
        f"{'scenario':<9} {'frames':>9} {'wall s':>7} {'RSS growth MB':>14} {'threads':>8} "
        f"{'fds':>5} {'handlers':>9}  verdict"
    ]
    for v in verdicts:
        lines.append(
            f"{v.scenario:<9} {v.frames:>9} {v.wall_s:>7.0f} {v.rss_growth_mb:>14.2f} "
            f"{v.thread_growth:>+8d} {v.fd_growth:>+5d} {v.handler_growth:>+9d}  "
            f"{'flat' if v.ok else 'GROWS'}"
        )
    for v in verdicts:
        if v.details:
            lines.append(f"{v.scenario}: {json.dumps(v.details)}")
    return "\n".join(lines)


def rss_curve(verdict: Verdict, points: int = 20) -> str:
    """The samples at ``points`` even steps: the curve, as text."""
    samples = verdict.samples
    if not samples:
        return ""
    step = max(1, len(samples) // points)
    rows = [f"{verdict.scenario}: t s, RSS MB, threads, fds, processes"]
    for s in [*samples[::step], samples[-1]] if (len(samples) - 1) % step else samples[::step]:
        rows.append(f"  {s.t_s:8.1f} {s.rss_mb:8.2f} {s.threads:4d} {s.fds:4d} {s.processes:3d}")
    return "\n".join(rows)


def plot(verdicts: list[Verdict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [v for v in verdicts if v.samples]
    fig, axes = plt.subplots(3, len(shown), figsize=(6 * len(shown), 6), sharex="col",
                             squeeze=False)  # fmt: skip
    for column, verdict in enumerate(shown):
        t = [s.t_s for s in verdict.samples]
        for row, (key, label) in enumerate(
            (("rss_mb", "RSS (MB)"), ("threads", "threads"), ("fds", "open fds"))
        ):
            ax = axes[row][column]
            ax.plot(t, [getattr(s, key) for s in verdict.samples])
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
        axes[0][column].set_title(
            f"{verdict.scenario}: {verdict.frames} frames, RSS {verdict.rss_growth_mb:+.2f} MB"
        )
        axes[-1][column].set_xlabel("seconds")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


SCENARIOS = ("long", "day", "churn", "attempts", "streams")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--duration",
        type=float,
        default=600.0,
        help="seconds of the long and streams scenarios (600)",
    )
    parser.add_argument(
        "--frames",
        type=int,
        default=None,
        help="the compressed day: this many frames as fast as they go "
        "(runs day and attempts unless --scenario says)",
    )
    parser.add_argument("--pipelines", type=int, default=1000, help="short runs (1000)")
    parser.add_argument(
        "--attempts", type=int, default=1000, help="stream attempts in one supervisor (1000)"
    )
    parser.add_argument("--streams", type=int, default=4, help="the streams scenario's (4)")
    parser.add_argument(
        "--kill-every",
        type=float,
        default=60.0,
        help="seconds between worker kills in the streams scenario (60)",
    )
    parser.add_argument(
        "--poll-hz",
        type=float,
        default=20.0,
        help="/system-resources polls a second in the streams scenario (20)",
    )
    parser.add_argument(
        "--scenario",
        action="append",
        choices=SCENARIOS,
        help="run this one (repeatable); default long and churn, with --frames day and attempts",
    )
    parser.add_argument(
        "--max-rss-growth-mb",
        type=float,
        default=None,
        help="the bound: 2 for long and churn, 5 for day and attempts, 20 for streams",
    )
    parser.add_argument("--json", type=Path, default=None, help="write the verdicts as JSON")
    parser.add_argument("--plot", type=Path, default=None, help="PNG of the samples")
    args = parser.parse_args(argv)
    scenarios = args.scenario or (["day", "attempts"] if args.frames else ["long", "churn"])
    if "day" in scenarios and not args.frames:
        parser.error("--scenario day needs --frames")

    def bound(scenario: str) -> float:
        if args.max_rss_growth_mb is not None:
            return float(args.max_rss_growth_mb)
        return {"day": 5.0, "attempts": 5.0, "streams": 20.0}.get(scenario, 2.0)

    verdicts = []
    with tempfile.TemporaryDirectory(prefix="framepipe-soak-") as tmp:
        for scenario in scenarios:
            log_dir = Path(tmp) / scenario
            log_dir.mkdir()
            if scenario in ("long", "day"):
                frames = args.frames if scenario == "day" else None
                verdict = long_run(args.duration, bound(scenario), log_dir, frames)
            elif scenario == "churn":
                verdict = churn(args.pipelines, bound(scenario), log_dir)
            elif scenario == "attempts":
                verdict = attempt_churn(args.attempts, bound(scenario), log_dir)
            else:
                verdict = several_streams(args.streams, args.duration, args.kill_every,
                                          args.poll_hz, bound(scenario), log_dir)  # fmt: skip
            verdicts.append(verdict)
            print(rss_curve(verdict))
    print(render(verdicts))
    if args.json is not None:
        args.json.write_text(json.dumps([asdict(v) for v in verdicts], indent=2) + "\n")
    if args.plot is not None:
        plot(verdicts, args.plot)
    return 0 if all(v.ok for v in verdicts) else 1


if __name__ == "__main__":
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    os.environ.setdefault("OPENCV_LOG_LEVEL", "SILENT")
    raise SystemExit(main())
