"""Soak: does a long run, or a long life of short runs, leak memory, threads or files?

    python benchmarks/soak.py                          # 10 min at 30 FPS, log every frame
    python benchmarks/soak.py --duration 30 --pipelines 1000 --json soak.json --plot soak.png

Two scenarios, in one process each time:

- ``long``: one pipeline on the synthetic scene paced at its frame rate (``--realtime``), the
  ``edges`` processor and a log record per frame. A sampler thread reads the process's RSS,
  thread count and open file descriptors every second. After a warm-up (the first fifth of the
  run, at least 5 s) the samples must stay flat: RSS grows by less than ``--max-rss-growth-mb``
  (median of the last ten samples against the median of the first ten after warm-up), and the
  thread and descriptor counts never exceed what they were when warm-up ended.
- ``churn``: ``--pipelines`` short pipelines created and run one after another (a few frames
  each): afterwards the process has the threads, descriptors and logging handlers it had before,
  and RSS within the same bound.

Exit code 0 when both stay flat, 1 when one does not; the table says which.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil

from framepipe import Pipeline
from framepipe.logging import configure

SAMPLE_EVERY_S = 1.0


@dataclass
class Sample:
    t_s: float
    rss_mb: float
    threads: int
    fds: int


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


def long_run(duration_s: float, max_growth_mb: float, log_dir: Path) -> Verdict:
    """One realtime pipeline for ``duration_s``; flat after warm-up or not."""
    log = configure(log_dir=str(log_dir), queue_size=10_000)
    try:
        pipeline = Pipeline(
            f"synthetic:640x360@30:{duration_s:g}",
            processor="edges",
            log_every=1,
            realtime=True,
        )
        with Sampler() as sampler:
            report = pipeline.run()
    finally:
        log.stop()
    samples = sampler.samples
    warmup = max(5, len(samples) // 5)
    steady = samples[warmup:]
    if len(steady) < 4:
        raise SystemExit(f"soak: --duration {duration_s:g} is too short to judge; use >= 10 s")
    head, tail = steady[: min(10, len(steady) // 2)], steady[-min(10, len(steady) // 2) :]
    rss_growth = statistics.median(s.rss_mb for s in tail) - statistics.median(
        s.rss_mb for s in head
    )
    thread_growth = max(s.threads for s in steady) - steady[0].threads
    fd_growth = max(s.fds for s in steady) - steady[0].fds
    return Verdict(
        scenario="long",
        rss_growth_mb=round(rss_growth, 2),
        thread_growth=thread_growth,
        fd_growth=fd_growth,
        handler_growth=0,
        frames=report.frames_processed,
        ok=rss_growth < max_growth_mb and thread_growth <= 0 and fd_growth <= 0,
        samples=samples,
    )


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


def render(verdicts: list[Verdict]) -> str:
    lines = [
        f"{'scenario':<9} {'frames':>8} {'RSS growth MB':>14} {'threads':>8} {'fds':>5} "
        f"{'handlers':>9}  verdict"
    ]
    for v in verdicts:
        lines.append(
            f"{v.scenario:<9} {v.frames:>8} {v.rss_growth_mb:>14.2f} {v.thread_growth:>+8d} "
            f"{v.fd_growth:>+5d} {v.handler_growth:>+9d}  {'flat' if v.ok else 'GROWS'}"
        )
    return "\n".join(lines)


def plot(verdict: Verdict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [s.t_s for s in verdict.samples]
    fig, axes = plt.subplots(3, 1, figsize=(8, 6), sharex=True)
    for ax, key, label in zip(
        axes, ("rss_mb", "threads", "fds"), ("RSS (MB)", "threads", "open fds"), strict=True
    ):
        ax.plot(t, [getattr(s, key) for s in verdict.samples])
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("seconds")
    fig.suptitle(f"soak: {verdict.frames} frames, RSS growth {verdict.rss_growth_mb:+.2f} MB")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=600.0, help="seconds (600)")
    parser.add_argument("--pipelines", type=int, default=1000, help="short runs (1000)")
    parser.add_argument("--max-rss-growth-mb", type=float, default=10.0)
    parser.add_argument("--json", type=Path, default=None, help="write the verdicts as JSON")
    parser.add_argument("--plot", type=Path, default=None, help="PNG of the long run's samples")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="framepipe-soak-") as tmp:
        verdicts = [
            long_run(args.duration, args.max_rss_growth_mb, Path(tmp) / "long"),
            churn(args.pipelines, args.max_rss_growth_mb, Path(tmp) / "churn"),
        ]
    print(render(verdicts))
    if args.json is not None:
        args.json.write_text(json.dumps([asdict(v) for v in verdicts], indent=2) + "\n")
    if args.plot is not None:
        plot(verdicts[0], args.plot)
    return 0 if all(v.ok for v in verdicts) else 1


if __name__ == "__main__":
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    os.environ.setdefault("OPENCV_LOG_LEVEL", "SILENT")
    raise SystemExit(main())
