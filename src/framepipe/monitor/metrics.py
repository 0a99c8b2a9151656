"""``/metrics``: the Prometheus exposition, read from snapshots and the logger at scrape time.

A registry of our own (never prometheus_client's global one) holds this collector and the
``process_*`` collector. Counters come straight from the run's own counters, so they never go
down while the run lasts; rates are left to ``rate()`` in Prometheus. The only label on stream
metrics is ``stream``: no paths or command lines, so the series stay bounded.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import choose_encoder

from framepipe.monitor.health import stream_problem
from framepipe.monitor.providers import HistogramProvider, Monitored

if TYPE_CHECKING:
    from framepipe.pipeline.histogram import HistogramReading
    from framepipe.pipeline.live import PipelineSnapshot

__all__ = ["FramepipeCollector", "build_registry", "render"]

# (metric name without _total, snapshot attribute, help)
_STREAM_COUNTERS = (
    ("framepipe_frames_read", "frames_read", "Frames the reader delivered from the source."),
    ("framepipe_frames_processed", "frames_processed", "Frames that went through the processor."),
    ("framepipe_frames_dropped", "frames_dropped", "Frames skipped for a newer one (latest)."),
    ("framepipe_budget_misses", "budget_misses", "Processed frames that took over the budget."),
    ("framepipe_source_reconnects", "reconnects", "Times the source was reopened."),
)
_LOG_STATES = ("accepted", "written", "dropped")


class FramepipeCollector:
    """Builds every framepipe metric from the current snapshots and logger counters."""

    def __init__(self, monitored: Monitored) -> None:
        self._monitored = monitored

    def collect(self) -> Iterator[Metric]:
        snapshots = self._monitored.snapshots()
        now = self._monitored.clock()
        yield from self._stream_metrics(snapshots, now)
        yield from self._histograms()
        stats = self._monitored.log_stats()
        if stats is not None:
            yield from _log_metrics(stats)

    def _stream_metrics(
        self, snapshots: Mapping[str, PipelineSnapshot], now: float
    ) -> Iterator[Metric]:
        for name, attribute, help_text in _STREAM_COUNTERS:
            counter = CounterMetricFamily(name, help_text, labels=["stream"])
            for stream, snapshot in snapshots.items():
                counter.add_metric([stream], getattr(snapshot, attribute))
            yield counter
        budget = GaugeMetricFamily(
            "framepipe_budget_seconds", "Time allowed per frame.", labels=["stream"]
        )
        up = GaugeMetricFamily(
            "framepipe_source_up",
            "1 while the source delivers frames (running, not stalled), else 0.",
            labels=["stream"],
        )
        for stream, snapshot in snapshots.items():
            budget.add_metric([stream], snapshot.budget_ms / 1000)
            stall_s = self._monitored.stall_limit_s(snapshot)
            up.add_metric([stream], 0.0 if stream_problem(snapshot, now, stall_s) else 1.0)
        yield budget
        yield up

    def _histograms(self) -> Iterator[Metric]:
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
        for stream, provider in self._monitored.streams.items():
            if isinstance(provider, HistogramProvider):
                pair = provider.histograms()
                _add_histogram(frame, stream, pair.frame.read())
                _add_histogram(age, stream, pair.age.read())
        yield frame
        yield age


def _add_histogram(family: HistogramMetricFamily, stream: str, reading: HistogramReading) -> None:
    buckets = [
        (repr(bound), float(count))  # repr: the exact float back
        for bound, count in zip(reading.bounds, reading.cumulative, strict=False)
    ]
    buckets.append(("+Inf", float(reading.count)))
    family.add_metric([stream], buckets, sum_value=reading.sum)


def _log_metrics(stats: Mapping[str, Any]) -> Iterator[Metric]:
    records = CounterMetricFamily(
        "framepipe_log_records",
        "Log records by what became of them: accepted into the queue, written, dropped.",
        labels=["state"],
    )
    for state in _LOG_STATES:
        records.add_metric([state], stats.get(state, 0))
    yield records
    dropped = CounterMetricFamily(
        "framepipe_log_records_dropped", "Log records dropped, by level.", labels=["level"]
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


def build_registry(monitored: Monitored) -> CollectorRegistry:
    """A registry of our own with the framepipe metrics and the ``process_*`` ones."""
    registry = CollectorRegistry(auto_describe=False)
    ProcessCollector(registry=registry)
    registry.register(FramepipeCollector(monitored))
    return registry


def render(registry: CollectorRegistry, accept: str = "") -> tuple[bytes, str]:
    """``(body, content type)``: OpenMetrics when the scraper asks for it, else the text format."""
    encoder, content_type = choose_encoder(accept)
    return encoder(registry), content_type
