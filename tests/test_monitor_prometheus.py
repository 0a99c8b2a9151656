"""A real Prometheus scraping a two-stream run, and ``promtool check metrics`` on /metrics.

Both need Debian's ``prometheus`` package (``/usr/bin/prometheus``, ``/usr/bin/promtool``). Without
it the tests skip and say so; ``FRAMEPIPE_REQUIRE_PROMETHEUS=1`` (set by CI) makes that a failure.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from framepipe.pipeline.histogram import BUCKET_BOUNDS
from helpers import free_port, pythonpath_with_tests, wait_until
from monitor_helpers import watched_run

FRAMEPIPE = str(Path(sys.executable).with_name("framepipe"))
SCRAPE_INTERVAL_S = 1
RUN_S = 15


def _tool(name: str) -> str:
    path = shutil.which(name) or next(
        (f for f in (f"/usr/bin/{name}",) if os.path.exists(f)), None
    )
    if path is None:
        reason = f"{name} is not installed (Debian: apt-get install prometheus)"
        if os.environ.get("FRAMEPIPE_REQUIRE_PROMETHEUS") == "1":
            pytest.fail(f"FRAMEPIPE_REQUIRE_PROMETHEUS=1 but {reason}")
        pytest.skip(reason)
    return path


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as reply:
        return json.loads(reply.read())


class PrometheusServer:
    """A Prometheus of its own on a free port, scraping one target every second."""

    def __init__(self, binary: str, target: str, root: Path) -> None:
        self.port = free_port()
        config = root / "prometheus.yml"
        config.write_text(
            "global:\n"
            f"  scrape_interval: {SCRAPE_INTERVAL_S}s\n"
            f"  scrape_timeout: {SCRAPE_INTERVAL_S}s\n"
            "scrape_configs:\n"
            "  - job_name: framepipe\n"
            f"    static_configs: [{{targets: ['{target}']}}]\n"
        )
        self.process = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={root / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=subprocess.DEVNULL, stderr=(root / "prometheus.log").open("w"),
        )  # fmt: skip

    def query(self, expression: str) -> list[dict[str, Any]]:
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode(
            {"query": expression}
        )
        answer = _get_json(url)
        assert answer["status"] == "success", answer
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture
def two_streams_scraped(tmp_path: Path) -> Iterator[tuple[PrometheusServer, dict[str, Any]]]:
    """A two-stream run of ~15 s scraped by Prometheus; yields it and the run's summary."""
    binary = _tool("prometheus")
    port = free_port()
    prometheus = PrometheusServer(binary, f"127.0.0.1:{port}", tmp_path)
    summary = tmp_path / "summary.json"
    try:
        wait_until(prometheus.ready, lambda: "Prometheus to be ready", 60)
        # A processor of a steady 20 ms: the last scrape misses the run's last second, and the
        # p99 of frames of a few µs would be that of the odd frames that waited for a core on a
        # busy machine, a handful of which may or may not be in that second.
        run = subprocess.run(
            [FRAMEPIPE, "run", f"synthetic:64x48@30:{RUN_S}", f"synthetic:64x48@30:{RUN_S}",
             "--realtime", "--quiet", "--processor", "parallel_processors:takes_20_ms",
             "--name", "left", "--name", "right",
             "--stats-port", str(port), "--summary-json", str(summary),
             "--log-dir", str(tmp_path / "logs")],
            capture_output=True, text=True, timeout=120,
            env={**os.environ, "PYTHONPATH": pythonpath_with_tests()},
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        yield prometheus, json.loads(summary.read_text())
    finally:
        prometheus.stop()


def _values(result: list[dict[str, Any]], label: str) -> dict[str, float]:
    return {item["metric"].get(label, ""): float(item["value"][1]) for item in result}


def test_prometheus_reads_each_streams_p99_and_their_sum(
    two_streams_scraped: tuple[PrometheusServer, dict[str, Any]],
) -> None:
    """``histogram_quantile(0.99, ...)`` per stream is within 2x of the summary's p99, and the
    buckets summed over both streams are one valid histogram."""
    prometheus, summary = two_streams_scraped
    # The whole run's buckets as last scraped (the target is gone now).
    buckets = "last_over_time(framepipe_frame_seconds_bucket[5m])"
    p99 = _values(
        prometheus.query(f"histogram_quantile(0.99, sum by (stream, le) ({buckets}))"), "stream"
    )
    expected = {s["stream"]: s["frame_ms"]["p99"] / 1000 for s in summary["streams"]}
    assert set(p99) == set(expected) == {"left", "right"}
    for stream, seconds in expected.items():
        assert not math.isnan(p99[stream]), stream
        assert seconds / 2 <= p99[stream] <= seconds * 2, (stream, p99[stream], seconds)
    summed = prometheus.query(f"sum by (le) ({buckets})")
    by_le = {float(item["metric"]["le"]): float(item["value"][1]) for item in summed}
    bounds = sorted(by_le)
    assert bounds[:-1] == list(BUCKET_BOUNDS) and math.isinf(bounds[-1])
    counts = [by_le[bound] for bound in bounds]
    assert counts == sorted(counts) and counts[-1] > 0  # cumulative, never decreasing
    (total,) = prometheus.query(f"histogram_quantile(0.99, sum by (le) ({buckets}))")
    assert not math.isnan(float(total["value"][1]))
    processed = _values(
        prometheus.query("last_over_time(framepipe_frames_processed_total[5m])"), "stream"
    )
    assert set(processed) == {"left", "right"} and min(processed.values()) > 0
    memory = _values(
        prometheus.query("last_over_time(framepipe_worker_resident_memory_bytes[5m])"), "stream"
    )
    assert set(memory) == {"left", "right"} and min(memory.values()) > 2**20


def test_promtool_finds_nothing_to_say_about_the_exposition(tmp_path: Path) -> None:
    """``promtool check metrics`` on a live /metrics: no lint problem, exit 0."""
    promtool = _tool("promtool")
    with watched_run() as (run, server):
        run.wait_for_frames(3)
        with urllib.request.urlopen(server.url + "metrics", timeout=10) as reply:
            text = reply.read()
    check = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, timeout=60
    )
    assert check.returncode == 0, check.stdout.decode() + check.stderr.decode()
    assert not check.stdout.strip() and not check.stderr.strip(), check.stderr.decode()
