"""Readiness: /readyz and framepipe_source_up follow the frames and the log writer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from framepipe.logging import configure
from framepipe.monitor import default_stall_s, serve
from framepipe.monitor.health import log_problem, not_ready_reasons, stream_problem
from framepipe.monitor.server import StatsServer
from framepipe.pipeline.live import PipelineSnapshot
from helpers import wait_until
from monitor_helpers import request, watched_run

STALL_S = 0.5


def snapshot(state: str = "running", last_frame_at: float | None = 10.0) -> PipelineSnapshot:
    return PipelineSnapshot(
        state=state,  # type: ignore[arg-type]
        source="synthetic",
        budget_ms=33.3,
        frames_read=1,
        frames_processed=1,
        frames_dropped=0,
        frames_failed=0,
        budget_misses=0,
        reconnects=0,
        elapsed_s=1.0,
        fps=30.0,
        frame_ms={"p50": 1.0, "p99": 2.0, "max": 3.0},
        frame_age_ms={"p50": 1.0, "p99": 2.0},
        last_frame_at=last_frame_at,
        latest_frame=np.zeros((2, 2, 3), np.uint8),
    )


def readyz(server: StatsServer) -> tuple[int, dict[str, Any]]:
    reply = request(server, "/readyz")
    return reply.status, reply.json()


def source_up(server: StatsServer) -> float:
    text = request(server, "/metrics").body.decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    return float(families["framepipe_source_up"].samples[0].value)


def wait_for_source_up(server: StatsServer, expected: float, timeout: float = 10.0) -> None:
    """/metrics is rendered at most ten times a second: poll until it shows ``expected``."""
    wait_until(
        lambda: source_up(server) == expected,
        lambda: f"framepipe_source_up {expected} (it is {source_up(server)})",
        timeout,
    )


def wait_for_status(server: StatsServer, status: int, timeout: float = 10.0) -> dict[str, Any]:
    """Poll /readyz until it answers ``status``; its document then."""
    last: list[tuple[int, dict[str, Any]]] = []

    def answered() -> bool:
        last[:] = [readyz(server)]
        return last[0][0] == status

    wait_until(answered, lambda: f"/readyz to answer {status}, not {last[0]}", timeout)
    return last[0][1]


class TestReadyz:
    def test_ready_while_frames_flow_and_not_when_the_source_stalls_then_ready_again(
        self, tmp_path: Path
    ) -> None:
        """200 while frames flow; 503 "no frame for X s" after a stall; 200 once they return."""
        log = configure(log_dir=tmp_path)
        with watched_run(logger=log, stall_s=STALL_S) as (run, server):
            assert readyz(server) == (200, {"status": "ready"})
            assert source_up(server) == 1.0
            run.stall()
            document = wait_for_status(server, 503)
            assert document["status"] == "not ready"
            assert document["reason"].startswith("no frame for ")
            assert document["reason"].endswith(" s")
            wait_for_source_up(server, 0.0)
            run.recover()
            wait_for_status(server, 200)
            wait_for_source_up(server, 1.0)

    def test_a_stopped_log_writer_makes_the_process_not_ready(self, tmp_path: Path) -> None:
        """Frames flow, but nothing is being written: 503 "log writer stopped"."""
        log = configure(log_dir=tmp_path)
        with watched_run(logger=log) as (_, server):
            assert readyz(server)[0] == 200
            log.stop()
            document = wait_for_status(server, 503)
        assert document["reason"] == "log writer stopped"

    def test_a_reconnecting_source_is_not_ready(self, tmp_path: Path) -> None:
        """While the pipeline says it is reconnecting, /readyz says so."""
        log = configure(log_dir=tmp_path)
        with watched_run(logger=log) as (run, server):
            run.state = "reconnecting"
            document = wait_for_status(server, 503)
        assert document["reason"] == "source reconnecting"

    def test_without_a_pipeline_readiness_is_the_log_writer(self, tmp_path: Path) -> None:
        """A logging-only process is ready while its writer runs."""
        log = configure(log_dir=tmp_path)
        with serve(port=0, logger=log) as server:
            assert readyz(server) == (200, {"status": "ready"})


class TestStreamProblem:
    @pytest.mark.parametrize(
        ("state", "last_frame_at", "now", "reason"),
        [
            ("running", 10.0, 10.5, None),  # a fresh frame
            ("running", 10.0, 14.2, "no frame for 4.2 s"),  # older than the 3 s limit
            ("running", None, 10.0, "no frame yet"),  # running, nothing processed so far
            ("starting", None, 10.0, "no frame yet"),
            ("reconnecting", 10.0, 10.1, "source reconnecting"),
            ("stopping", 10.0, 10.1, "pipeline stopping"),
            ("ended", 10.0, 10.1, "pipeline ended"),
        ],
    )
    def test_each_state_and_age_has_its_reason(
        self, state: str, last_frame_at: float | None, now: float, reason: str | None
    ) -> None:
        """The reason names what is wrong, in the words /readyz shows."""
        assert stream_problem(snapshot(state, last_frame_at), now, stall_s=3.0) == reason

    def test_several_streams_are_named_in_their_reasons(self) -> None:
        """With more than one stream each reason says which stream it is about."""
        snapshots = {"a": snapshot(), "b": snapshot(last_frame_at=1.0)}
        reasons = not_ready_reasons(snapshots, {"a": 3.0, "b": 3.0}, None, now=10.0)
        assert reasons == ["b: no frame for 9.0 s"]


class TestLimits:
    @pytest.mark.parametrize(
        ("budget_ms", "stall_s"),
        [(33.3, 3.0), (300.0, 3.0), (500.0, 5.0), (2000.0, 20.0)],
    )
    def test_the_default_stall_limit_is_3_s_or_10_budgets(
        self, budget_ms: float, stall_s: float
    ) -> None:
        """Whichever is longer, so a slow pipeline is not called stalled between two frames."""
        assert default_stall_s(budget_ms) == pytest.approx(stall_s)

    def test_a_sync_logger_has_no_writer_to_lose(self) -> None:
        """The sync mode writes on the caller: listener_running false is not a problem."""
        assert log_problem({"mode": "sync", "listener_running": False}) is None
        assert log_problem({"mode": "async", "listener_running": False}) == "log writer stopped"
        assert log_problem(None) is None

    @pytest.mark.parametrize("stall_s", [0, -1.0, float("nan"), float("inf")])
    def test_a_stall_limit_must_be_a_positive_number(self, stall_s: float) -> None:
        """serve(stall_s=...) refuses limits that could never or would always trigger."""
        with pytest.raises(ValueError, match="stall_s must be a positive number"):
            serve(port=0, stall_s=stall_s)
