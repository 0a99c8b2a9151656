"""``/metrics``: the Prometheus exposition, read from snapshots and the logger at scrape time.

A registry of our own (never prometheus_client's global one) holds this collector and the
``process_*`` collector. Counters come straight from the run's own counters, so they never go
down while the run lasts; rates are left to ``rate()`` in Prometheus. The only label on stream
metrics is ``stream``: no paths or command lines, so the series stay bounded.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import choose_encoder

from framepipe.monitor.api import ServiceStats
from framepipe.monitor.health import stream_problem
from framepipe.monitor.reading import HistogramData
from framepipe.monitor.resources import WorkerUsage
from framepipe.monitor.store import Store, View

__all__ = ["FramepipeCollector", "build_registry", "build_version", "render"]

# (metric name without _total, stream attribute, help)
_STREAM_COUNTERS = (
    ("framepipe_frames_read", "frames_read", "Frames the reader delivered from the source."),
    ("framepipe_frames_processed", "frames_processed", "Frames that went through the processor."),
    ("framepipe_frames_dropped", "frames_dropped", "Frames skipped for a newer one (latest)."),
    ("framepipe_frames_failed", "frames_failed", "Frames the processor failed on, skipped."),
    ("framepipe_budget_misses", "budget_misses", "Processed frames that took over the budget."),
    ("framepipe_reconnects", "reconnects", "Times a dropped live source was reopened."),
    (
        "framepipe_disconnected_seconds",
        "disconnected_s",
        "Seconds a live source spent without a connection.",
    ),
    ("framepipe_results_written", "results_written", "Results lines written."),
    ("framepipe_results_dropped", "results_dropped", "Results lines dropped: a queue was full."),
    ("framepipe_results_errors", "results_errors", "Results lines refused: not JSON, unwritten."),
)
# (metric name without _total, log counter, help): each a count of its own, none overlapping
# another's label values, so a sum over a metric's labels is a number of records.
_LOG_COUNTERS = (
    ("framepipe_log_records_accepted", "accepted", "Log records taken into the queue."),
    ("framepipe_log_records_written", "written", "Log records written by the sinks."),
    ("framepipe_log_write_errors", "errors", "Log records a sink failed to write."),
)


def build_version() -> str:
    """The installed framepipe's version, or ``unknown`` when it runs from a bare tree."""
    try:
        return version("framepipe")
    except PackageNotFoundError:
        return "unknown"


class FramepipeCollector:
    """Builds every framepipe metric from the latest reading, at scrape time."""

    def __init__(self, store: Store, workers: WorkerUsage | None = None) -> None:
        self._store = store
        self._workers = workers if workers is not None else WorkerUsage()
        self._version = build_version()

    def collect(self) -> Iterator[Metric]:
        info = GaugeMetricFamily(
            "framepipe_build_info", "The framepipe serving these metrics.", labels=["version"]
        )
        info.add_metric([self._version], 1.0)
        yield info
        view = self._store.view()
        yield from self._stream_metrics(view)
        yield from _histograms(view)
        yield from self._worker_metrics(view)
        stats = view.reading.log_stats
        if stats is not None:
            yield from _log_metrics(stats)
        service = view.reading.service
        if service is not None:
            yield _service_metrics(service)

    def _stream_metrics(self, view: View) -> Iterator[Metric]:
        streams = view.reading.streams
        for name, attribute, help_text in _STREAM_COUNTERS:
            counter = CounterMetricFamily(name, help_text, labels=["stream"])
            for label, stream in streams.items():
                counter.add_metric([label], getattr(stream.snapshot, attribute))
            yield counter
        budget = GaugeMetricFamily(
            "framepipe_budget_seconds", "Time allowed per frame.", labels=["stream"]
        )
        up = GaugeMetricFamily(
            "framepipe_source_up",
            "1 while the source delivers frames (running, not stalled), else 0.",
            labels=["stream"],
        )
        for label, stream in streams.items():
            snapshot = stream.snapshot
            budget.add_metric([label], snapshot.budget_ms / 1000)
            stall_s = self._store.stall_limit_s(snapshot)
            up.add_metric([label], 0.0 if stream_problem(snapshot, view.now, stall_s) else 1.0)
        yield budget
        yield up

    def _worker_metrics(self, view: View) -> Iterator[Metric]:
        """Memory and CPU of each stream's worker process, where the stream has one here."""
        memory = GaugeMetricFamily(
            "framepipe_worker_resident_memory_bytes",
            "Resident memory of the process running the stream (a worker).",
            labels=["stream"],
        )
        cpu = CounterMetricFamily(
            "framepipe_worker_cpu_seconds",
            "CPU time of the process running the stream (a restarted worker starts again at 0).",
            labels=["stream"],
        )
        seen = False
        for label, stream in view.reading.streams.items():
            usage = self._workers.usage(stream)
            if usage is not None:
                seen = True
                memory.add_metric([label], float(usage.rss_bytes))
                cpu.add_metric([label], usage.cpu_seconds)
        self._workers.keep_only(view.reading.streams.values())
        if seen:
            yield memory
            yield cpu


def _histograms(view: View) -> Iterator[Metric]:
    frame = HistogramMetricFamily(
        "framepipe_frame_seconds",
        "Time per processed frame, from taking it to finishing its outputs.",
        labels=["stream"],
    )
    age = HistogramMetricFamily(
        "framepipe_frame_age_seconds",
        "Time from capture to the end of processing, per processed frame.",
        labels=["stream"],
    )
    for label, stream in view.reading.streams.items():
        if stream.frame_histogram is not None:
            _add_histogram(frame, label, stream.frame_histogram)
        if stream.age_histogram is not None:
            _add_histogram(age, label, stream.age_histogram)
    yield frame
    yield age


def _add_histogram(family: HistogramMetricFamily, label: str, data: HistogramData) -> None:
    bounds, cumulative, total = data
    buckets = [
        (repr(bound), float(count))  # repr: the exact float back
        for bound, count in zip(bounds, cumulative, strict=False)
    ]
    buckets.append(("+Inf", float(cumulative[-1])))
    family.add_metric([label], buckets, sum_value=total)


def _log_metrics(stats: Mapping[str, Any]) -> Iterator[Metric]:
    for name, key, help_text in _LOG_COUNTERS:
        yield CounterMetricFamily(name, help_text, value=stats.get(key, 0))
    dropped = CounterMetricFamily(
        "framepipe_log_records_dropped",
        "Log records dropped (never written), by level: the queue was full or the logger stopped.",
        labels=["level"],
    )
    for level, count in sorted(stats.get("dropped_by_level", {}).items()):
        dropped.add_metric([str(level)], count)
    yield dropped
    yield GaugeMetricFamily(
        "framepipe_log_queue_depth", "Log records waiting for the writer.",
        value=stats.get("queue_size", 0),
    )
    yield GaugeMetricFamily(
        "framepipe_log_queue_capacity", "Size of the log queue.",
        value=stats.get("queue_maxsize", 0),
    )


def _service_metrics(service: ServiceStats) -> Metric:
    reloads = CounterMetricFamily(
        "framepipe_config_reloads",
        "Times the service read its config file again, by result (ok: applied, error: refused).",
        labels=["result"],
    )
    for result in ("ok", "error"):
        reloads.add_metric([result], service["config_reloads"].get(result, 0))
    return reloads


def build_registry(store: Store, pid: int | None = None) -> CollectorRegistry:
    """A registry of our own: the framepipe metrics and the ``process_*`` ones of ``pid``."""
    registry = CollectorRegistry(auto_describe=False)
    ProcessCollector(pid=(lambda: "self") if pid is None else (lambda: pid), registry=registry)
    registry.register(FramepipeCollector(store))
    return registry


def render(registry: CollectorRegistry, accept: str = "") -> tuple[bytes, str]:
    """``(body, content type)``: OpenMetrics when the scraper asks for it, else the text format."""
    encoder, content_type = choose_encoder(accept)
    return encoder(registry), content_type
