"""The ``/system-resources`` document: process memory and CPU, the logger, the streams."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import psutil

from framepipe._snapshot import PipelineSnapshot
from framepipe.monitor.reading import StreamReading

__all__ = [
    "ProcessSampler",
    "ProcessUsage",
    "WorkerSamplers",
    "WorkerUsage",
    "logging_part",
    "pipeline_part",
    "stream_part",
    "system_resources",
]

# The logger counters the document carries, with what to show for one the logger does not have.
_LOG_KEYS: dict[str, Any] = {
    "queue_size": 0,
    "queue_maxsize": 0,
    "log_file": None,
    "listener_running": False,
    "dropped": 0,
    "written": 0,
    "high_water": 0,
}


class ProcessSampler:
    """A process's resident memory and CPU, measured at most every ``min_interval_s``.

    CPU is the share of one core (100 = one core busy, like ``top``) over the time since the
    previous measurement; measuring on every request would make 20 polls a second read noise.
    """

    def __init__(
        self,
        pid: int | None = None,
        min_interval_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._process = psutil.Process(pid)  # None: this process
        self._process.cpu_percent(interval=None)  # the first call only starts the interval
        self._min_interval_s = min_interval_s
        self._clock = clock
        self._lock = threading.Lock()  # server threads only; the frame loop never takes it
        self._at = clock()
        self._memory_mb = self._read_memory_mb()
        self._cpu_percent = self._average_cpu_percent()

    def sample(self) -> tuple[float, float]:
        """``(memory_mb, cpu_percent)``, each rounded to 0.1."""
        with self._lock:
            now = self._clock()
            if now - self._at >= self._min_interval_s:
                self._at = now
                self._cpu_percent = round(float(self._process.cpu_percent(interval=None)), 1)
                self._memory_mb = self._read_memory_mb()
            return self._memory_mb, self._cpu_percent

    def _read_memory_mb(self) -> float:
        return round(_resident_bytes(self._process) / 2**20, 1)

    def _average_cpu_percent(self) -> float:
        """CPU since the process started: what to show before a first interval has passed
        (a worker that just started would otherwise read 0.0 for its busiest seconds)."""
        times = self._process.cpu_times()
        alive_s = time.time() - float(self._process.create_time())
        if alive_s <= 0:
            return 0.0
        return round(100.0 * float(times.user + times.system) / alive_s, 1)


def _resident_bytes(process: psutil.Process) -> int:
    """The process's resident memory. One that has ended and waits for its parent to reap it (a
    zombie) has none: it reads as gone (``psutil.ZombieProcess``), not as a process of 0 bytes."""
    rss = int(process.memory_info().rss)
    if rss == 0 and process.status() == psutil.STATUS_ZOMBIE:
        raise psutil.ZombieProcess(process.pid)
    return rss


@dataclass(frozen=True)
class ProcessUsage:
    """A process's resident memory and the CPU time it used so far."""

    rss_bytes: int
    cpu_seconds: float


class WorkerUsage:
    """Memory and CPU time of the processes running the streams, for ``/metrics``.

    Only a process on this machine is read (a Ray actor elsewhere has no local pid); one that is
    gone or not ours to read has no usage.
    """

    def __init__(self, host: str | None = None) -> None:
        self._host = socket.gethostname() if host is None else host
        self._lock = threading.Lock()
        self._processes: dict[int, psutil.Process] = {}

    def usage(self, stream: StreamReading) -> ProcessUsage | None:
        pid = stream.pid
        if pid is None or (stream.node is not None and stream.node != self._host):
            return None
        try:
            with self._lock:
                process = self._processes.get(pid)
                if process is None:
                    process = self._processes[pid] = psutil.Process(pid)
            with process.oneshot():
                times = process.cpu_times()
                rss = _resident_bytes(process)
        except psutil.Error:
            with self._lock:
                self._processes.pop(pid, None)
            return None
        return ProcessUsage(int(rss), float(times.user + times.system))

    def keep_only(self, streams: Iterable[StreamReading]) -> None:
        """Forget the processes no stream reports any more."""
        pids = {stream.pid for stream in streams}
        with self._lock:
            for pid in set(self._processes) - pids:
                del self._processes[pid]


class WorkerSamplers:
    """Memory and CPU of the processes running the streams, one :class:`ProcessSampler` per pid.

    A sampler is kept while its pid is reported (CPU is measured between two samples of the
    same process), and dropped once a restarted worker has a new pid. A pid that is gone, not
    ours to read, or on another machine (a Ray actor's ``node``) reads as ``(None, None)``.
    """

    def __init__(
        self,
        min_interval_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
        host: str | None = None,
    ) -> None:
        self._min_interval_s = min_interval_s
        self._clock = clock
        self._host = socket.gethostname() if host is None else host
        self._lock = threading.Lock()
        self._samplers: dict[int, ProcessSampler] = {}

    def sample(self, stream: StreamReading) -> tuple[float | None, float | None]:
        """``(memory_mb, cpu_percent)`` of the stream's process, or ``(None, None)``."""
        pid = stream.pid
        if pid is None or (stream.node is not None and stream.node != self._host):
            return None, None
        with self._lock:
            sampler = self._samplers.get(pid)
            if sampler is None:
                try:
                    sampler = ProcessSampler(pid, self._min_interval_s, self._clock)
                except psutil.Error:
                    return None, None
                self._samplers[pid] = sampler
        try:
            return sampler.sample()
        except psutil.Error:  # the worker ended since it was last reported
            with self._lock:
                self._samplers.pop(pid, None)
            return None, None

    def keep_only(self, pids: set[int]) -> None:
        """Forget the samplers of processes no stream reports any more."""
        with self._lock:
            for pid in set(self._samplers) - pids:
                del self._samplers[pid]


def logging_part(stats: Mapping[str, Any] | None) -> dict[str, Any]:
    """The logger's queue and counters; zeros and ``listener_running: false`` without a logger."""
    stats = stats or {}
    return {key: stats.get(key, default) for key, default in _LOG_KEYS.items()}


def pipeline_part(stream: StreamReading, now: float) -> dict[str, Any]:
    """One stream's progress; ``seconds_since_last_frame`` is None before the first frame."""
    snapshot: PipelineSnapshot = stream.snapshot
    since = snapshot.seconds_since_last_frame(now)
    node = {} if stream.node is None else {"node": stream.node}  # a stream on another machine
    frame_ms, age_ms = snapshot.frame_ms, snapshot.frame_age_ms
    return {
        **node,
        "state": snapshot.state,
        "source": snapshot.source,
        "frames_read": snapshot.frames_read,
        "frames_processed": snapshot.frames_processed,
        "frames_dropped": snapshot.frames_dropped,
        "fps": snapshot.fps,
        "budget_ms": snapshot.budget_ms,
        "budget_misses": snapshot.budget_misses,
        "frame_ms": {"p50": frame_ms["p50"], "p99": frame_ms["p99"]},
        "frame_age_ms": {"p50": age_ms["p50"], "p99": age_ms["p99"]},
        "seconds_since_last_frame": None if since is None else round(since, 3),
        "reconnects": snapshot.reconnects,
        "last_results": snapshot.last_results,  # {"frame", "t", "results"}; None before any
        # Only where camera settings were asked for: what was asked and what is delivered.
        **({} if snapshot.camera is None else {"camera": snapshot.camera.to_dict()}),
    }


def stream_part(
    name: str, stream: StreamReading, now: float, workers: WorkerSamplers
) -> dict[str, Any]:
    """One entry of the ``streams`` list: the stream's progress and its process's resources."""
    memory_mb, cpu_percent = workers.sample(stream)
    progress = pipeline_part(stream, now)
    progress.pop("node", None)
    return {
        "stream": name,
        "pid": stream.pid,
        "node": stream.node,
        "restart_count": stream.restart_count,
        **progress,
        "memory_mb": memory_mb,
        "cpu_percent": cpu_percent,
    }


def system_resources(
    sampler: ProcessSampler,
    log_stats: Mapping[str, Any] | None,
    streams: Mapping[str, StreamReading],
    now: float,
    workers: WorkerSamplers | None = None,
    *,
    service: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The whole document: ``pipeline`` (the first stream) when a stream is attached, with
    more than one stream a ``streams`` list, one entry per stream, in order, and a service's
    own counters under ``service`` when there are some. A service always has the ``streams``
    list, with one stream or none: its streams come and go, the document's shape does not."""
    memory_mb, cpu_percent = sampler.sample()
    document: dict[str, Any] = {
        "memory_mb": memory_mb,
        "cpu_percent": cpu_percent,
        "logging": logging_part(log_stats),
    }
    first = next(iter(streams.values()), None)
    if first is not None:
        document["pipeline"] = pipeline_part(first, now)
    if len(streams) > 1 or service is not None:
        workers = workers or WorkerSamplers()
        document["streams"] = [
            stream_part(name, stream, now, workers) for name, stream in streams.items()
        ]
        workers.keep_only({stream.pid for stream in streams.values() if stream.pid is not None})
    if service is not None:
        document["service"] = {"config_reloads": dict(service["config_reloads"])}
    return document
