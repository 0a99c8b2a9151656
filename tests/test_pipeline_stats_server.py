"""``framepipe run --stats-port``: a real run in a child process, watched over real HTTP."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from framepipe import Pipeline
from framepipe.pipeline.histogram import BUCKET_BOUNDS
from helpers import wait_until

ADDRESS = re.compile(r"framepipe: stats server on (http://127\.0\.0\.1:\d+)/?")


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read()


@pytest.fixture
def watched_run(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``framepipe run`` on a paced synthetic scene with ``--stats-port 0``; its server's URL."""
    child = subprocess.Popen(
        [sys.executable, "-m", "framepipe", "run", "synthetic:320x240@30:8", "--realtime",
         "--quiet", "--stats-port", "0", "--log-dir", str(tmp_path / "logs")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert child.stderr is not None
        line = child.stderr.readline()
        match = ADDRESS.match(line)
        assert match, f"no address line, got {line!r}"
        yield child, match.group(1)
    finally:
        if child.poll() is None:
            child.kill()
        child.communicate(timeout=20)


def _resources(url: str) -> dict[str, Any]:
    status, body = _get(url + "/system-resources")
    assert status == 200
    document: dict[str, Any] = json.loads(body)
    return document


def _wait_for(url: str, frames: int, timeout: float = 15.0) -> dict[str, Any]:
    """Poll /system-resources until the pipeline has processed ``frames``; that document."""
    last: list[dict[str, Any]] = [{}]

    def reached() -> bool:
        last[0] = _resources(url)
        return bool((last[0].get("pipeline") or {}).get("frames_processed", 0) >= frames)

    wait_until(reached, lambda: f"{frames} frames: {last[0]}", timeout)
    return last[0]


class TestRunWithStatsPort:
    def test_every_part_of_the_run_is_watchable_while_frames_flow(
        self, watched_run: tuple[subprocess.Popen[str], str]
    ) -> None:
        """Counters that move, a budget-bounded histogram with samples, ready, then exit 0."""
        child, url = watched_run
        first = _wait_for(url, 10)
        later = _wait_for(url, first["pipeline"]["frames_processed"] + 15)
        pipeline = later["pipeline"]
        assert pipeline["state"] == "running"
        assert pipeline["budget_ms"] == pytest.approx(1000 / 30, rel=1e-3)
        assert pipeline["frames_read"] >= pipeline["frames_processed"]
        assert 10 < pipeline["fps"] < 60
        assert later["logging"]["listener_running"] is True
        assert later["memory_mb"] > 0
        assert _get(url + "/readyz")[0] == 200

        status, body = _get(url + "/metrics")
        assert status == 200
        families = {f.name: f for f in text_string_to_metric_families(body.decode())}
        frame_seconds = families["framepipe_frame_seconds"]
        buckets = {
            float(s.labels["le"]): s.value
            for s in frame_seconds.samples
            if s.name.endswith("_bucket")
        }
        budget_s = pipeline["budget_ms"] / 1000
        assert any(abs(bound - budget_s) < 1e-9 for bound in buckets)
        assert buckets[float("inf")] >= pipeline["frames_processed"] - 5
        processed = families["framepipe_frames_processed"].samples[0].value
        assert processed >= first["pipeline"]["frames_processed"]

        _, stderr = child.communicate(timeout=30)
        assert child.returncode == 0, stderr

    def test_a_port_in_use_is_one_line_and_exit_1(self, tmp_path: Path) -> None:
        """A port another server holds: one error line naming the flag, exit 1, no traceback."""
        import socket

        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen(1)
            port = taken.getsockname()[1]
            result = subprocess.run(
                [sys.executable, "-m", "framepipe", "run", "synthetic:64x64@30:1", "--quiet",
                 "--stats-port", str(port), "--log-dir", str(tmp_path / "logs")],
                capture_output=True, text=True, timeout=60,
            )  # fmt: skip
        assert result.returncode == 1
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"framepipe: error: --stats-port {port}:")

    @pytest.mark.parametrize("value", ["-1", "65536", "http"])
    def test_a_bad_port_is_a_usage_error(self, value: str, tmp_path: Path) -> None:
        """Not a port number: exit 2 with the expected-versus-actual message."""
        result = subprocess.run(
            [sys.executable, "-m", "framepipe", "run", "--stats-port", value],
            capture_output=True, text=True, timeout=60, cwd=tmp_path,
        )  # fmt: skip
        assert result.returncode == 2
        assert "must be a port number from 0 to 65535" in result.stderr


class TestPipelineHistograms:
    def test_every_processed_frame_is_counted_in_the_shared_buckets(self) -> None:
        """After a run, the histograms hold one count per frame, in the fixed bounds."""
        pipeline = Pipeline("synthetic:64x64@50:1", processor="gray")
        report = pipeline.run()
        histograms = pipeline.histograms()
        frame, age = histograms.frame.read(), histograms.age.read()
        assert frame.count == age.count == report.frames_processed == 50
        assert frame.bounds == BUCKET_BOUNDS  # the same at 50 FPS as at any other rate
        assert frame.sum > 0
