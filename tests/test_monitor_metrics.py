"""GET /metrics: the Prometheus exposition, parsed back with prometheus_client's own parser."""

from __future__ import annotations

import importlib.metadata
import itertools
from pathlib import Path

import prometheus_client
from prometheus_client.parser import text_string_to_metric_families

from framepipe.logging import Logger, configure
from framepipe.monitor import serve
from framepipe.monitor.server import StatsServer
from framepipe.pipeline.histogram import BUCKET_BOUNDS
from monitor_helpers import BUDGET_MS, request, watched_run

COUNTERS = {
    "framepipe_frames_read",
    "framepipe_frames_processed",
    "framepipe_frames_dropped",
    "framepipe_budget_misses",
    "framepipe_frames_failed",
    "framepipe_reconnects",
    "framepipe_disconnected_seconds",
    "framepipe_log_records_accepted",
    "framepipe_log_records_written",
    "framepipe_log_write_errors",
    "framepipe_log_records_dropped",
}
HISTOGRAMS = {"framepipe_frame_seconds", "framepipe_frame_age_seconds"}
GAUGES = {
    "framepipe_log_queue_depth",
    "framepipe_log_queue_capacity",
    "framepipe_budget_seconds",
    "framepipe_source_up",
    "framepipe_build_info",
}
# Bounded label names only: no paths, command lines or per-frame values.
ALLOWED_LABELS = {"stream", "level", "le", "version"}


def scrape(server: StatsServer) -> dict[str, prometheus_client.Metric]:
    reply = request(server, "/metrics")
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("text/plain")
    return {f.name: f for f in text_string_to_metric_families(reply.body.decode())}


def value(families: dict[str, prometheus_client.Metric], sample_name: str, **labels: str) -> float:
    """The value of one sample, found by its own name (``_total``, ``_count``, ``_bucket``)."""
    return next(
        s.value
        for family in families.values() for s in family.samples
        if s.name == sample_name and s.labels == labels
    )


def stopped_logger_with_drops(tmp_path: Path) -> Logger:
    """A real logger that refused 3 INFO records and 2 WARNING ones after it stopped."""
    log = configure(log_dir=tmp_path)
    log.info("written")
    log.stop()
    for _ in range(3):
        log.info("refused")
    for _ in range(2):
        log.warning("refused")
    return log


class TestExposition:
    def test_every_framepipe_metric_is_there_with_its_type(self, tmp_path: Path) -> None:
        """Counters, histograms and gauges by their exact names, plus process_* metrics."""
        log = configure(log_dir=tmp_path)
        with watched_run(logger=log) as (_, server):
            families = scrape(server)
        types = {name: family.type for name, family in families.items()}
        assert {name: types.get(name) for name in COUNTERS} == dict.fromkeys(COUNTERS, "counter")
        assert {name: types.get(name) for name in HISTOGRAMS} == dict.fromkeys(
            HISTOGRAMS, "histogram"
        )
        assert {name: types.get(name) for name in GAUGES} == dict.fromkeys(GAUGES, "gauge")
        assert "process_cpu_seconds" in families
        assert "process_resident_memory_bytes" in families
        assert not [name for name in families if "fps" in name]  # rates are left to rate()

    def test_labels_stay_bounded(self, tmp_path: Path) -> None:
        """The only labels are stream, state, level (and le on buckets)."""
        log = configure(log_dir=tmp_path)
        with watched_run(logger=log) as (_, server):
            families = scrape(server)
        labels = {
            label
            for name, family in families.items() if name.startswith("framepipe_")
            for sample in family.samples for label in sample.labels
        }
        assert labels <= ALLOWED_LABELS
        assert value(families, "framepipe_frames_processed_total", stream="main") > 0

    def test_build_info_names_the_version(self) -> None:
        """One ``framepipe_build_info`` sample, value 1, labelled with the installed version."""
        with watched_run() as (_, server):
            families = scrape(server)
        (sample,) = families["framepipe_build_info"].samples
        assert sample.value == 1
        assert sample.labels["version"] == importlib.metadata.version("framepipe")

    def test_histogram_buckets_are_the_fixed_bounds_whatever_the_budget(self) -> None:
        """``le`` is the shared log-spaced bounds in seconds (1/30 exactly among them); the
        budget is a gauge of its own."""
        with watched_run() as (_, server):
            families = scrape(server)
        budget_s = BUDGET_MS / 1000
        assert value(families, "framepipe_budget_seconds", stream="main") == budget_s
        for name in HISTOGRAMS:
            bounds = [
                float(s.labels["le"])
                for s in families[name].samples if s.name == f"{name}_bucket"
            ]
            assert tuple(bounds[:-1]) == BUCKET_BOUNDS, name
            assert 1 / 30 in bounds
            count = value(families, f"{name}_count", stream="main")
            assert count == value(families, f"{name}_bucket", stream="main", le="+Inf") > 0

    def test_counters_never_go_down_while_frames_flow(self, tmp_path: Path) -> None:
        """Every counter and histogram count over five scrapes is non-decreasing; frames grow."""
        log = configure(log_dir=tmp_path)
        with watched_run(logger=log) as (run, server):
            scrapes = []
            for _ in range(5):
                scrapes.append(scrape(server))
                log.info("frame %d", run.frames_processed)
                run.wait_for_frames(run.frames_processed + 3)
        for earlier, later in itertools.pairwise(scrapes):
            for family in later.values():
                if family.type not in ("counter", "histogram"):
                    continue
                for sample in family.samples:
                    if sample.name.endswith(("_created", "_sum")):
                        continue
                    before = [
                        s.value for s in earlier[family.name].samples
                        if s.name == sample.name and s.labels == sample.labels
                    ]
                    assert not before or sample.value >= before[0], (sample, before)
        frames = [value(s, "framepipe_frames_processed_total", stream="main") for s in scrapes]
        assert frames[-1] > frames[0]

    def test_log_records_are_counted_once_each_and_drops_by_level(self, tmp_path: Path) -> None:
        """accepted, written and dropped records in metrics of their own, so no sum over a
        metric's labels counts a record twice; the dropped ones per level, in one metric."""
        log = stopped_logger_with_drops(tmp_path)
        with serve(port=0, logger=log) as server:
            families = scrape(server)
        assert value(families, "framepipe_log_records_accepted_total") == 1
        assert value(families, "framepipe_log_records_written_total") == 1
        assert value(families, "framepipe_log_write_errors_total") == 0
        dropped = [
            s.value for s in families["framepipe_log_records_dropped"].samples
            if s.name.endswith("_total")
        ]
        assert sum(dropped) == 5
        assert not [name for name in families if name == "framepipe_log_records"]
        assert value(families, "framepipe_log_records_dropped_total", level="INFO") == 3
        assert value(families, "framepipe_log_records_dropped_total", level="WARNING") == 2
        assert value(families, "framepipe_log_queue_capacity") == 10_000
        assert value(families, "framepipe_log_queue_depth") == 0

    def test_without_a_pipeline_stream_metrics_have_no_samples(self, tmp_path: Path) -> None:
        """A logging-only process exports its logger and process metrics, no stream series."""
        log = configure(log_dir=tmp_path)
        with serve(port=0, logger=log) as server:
            families = scrape(server)
        assert families["framepipe_frames_processed"].samples == []
        assert families["framepipe_log_queue_capacity"].samples

    def test_openmetrics_is_served_to_a_scraper_that_asks_for_it(self) -> None:
        """Accept: application/openmetrics-text gets the OpenMetrics format."""
        with serve(port=0) as server:
            reply = request(
                server, "/metrics", headers={"Accept": "application/openmetrics-text"}
            )
        assert reply.headers["content-type"].startswith("application/openmetrics-text")
        assert reply.body.rstrip().endswith(b"# EOF")


def test_the_global_prometheus_registry_is_left_alone() -> None:
    """Our metrics live in a registry of our own; prometheus_client's default one gains nothing."""
    before = {m.name for m in prometheus_client.REGISTRY.collect()}
    with watched_run() as (_, server):
        scrape(server)
    after = {m.name for m in prometheus_client.REGISTRY.collect()}
    assert after == before
    assert not [name for name in after if name.startswith("framepipe_")]


def test_head_of_metrics_has_no_body() -> None:
    """HEAD /metrics: the exposition's headers only."""
    with serve(port=0) as server:
        reply = request(server, "/metrics", method="HEAD")
    assert (reply.status, reply.body) == (200, b"")
