"""A restarted stream's worker, as /system-resources shows it: a new pid and its restart count."""

from __future__ import annotations

import os
import signal
from typing import Any

import pytest

from framepipe import PipelineConfig
from framepipe.monitor import serve
from framepipe.streams import start_streams
from helpers import process_ended, wait_for_frames, wait_until
from monitor_helpers import request

PACED = "synthetic:64x48@30:60"  # with realtime=True: a minute unless stopped

pytestmark = pytest.mark.usefixtures("logs_in_tmp")


def entries(server: Any) -> dict[str, dict[str, Any]]:
    document = request(server, "/system-resources").json()
    return {entry["stream"]: entry for entry in document.get("streams", [])}


def test_a_killed_worker_shows_as_a_new_pid_and_one_more_restart() -> None:
    config = PipelineConfig(realtime=True)
    with (
        start_streams([PACED, PACED], config=config, restart_attempts=3) as handle,
        serve(port=0, streams=handle.streams) as server,
    ):
        wait_for_frames(handle, 3)
        before = wait_until(
            lambda: (found := entries(server)) and found["synthetic"]["pid"] and found,
            "both streams with their worker",
            timeout=20.0,
        )
        assert [entry["restart_count"] for entry in before.values()] == [0, 0]
        killed = before["synthetic"]["pid"]
        os.kill(killed, signal.SIGKILL)
        wait_until(lambda: process_ended(killed), "the worker to end")
        after = wait_until(
            lambda: (found := entries(server))["synthetic"]["restart_count"] == 1
            and found["synthetic"]["pid"] not in (None, killed)
            and found,
            "the restarted worker",
            timeout=30.0,
        )
        assert after["synthetic-2"]["restart_count"] == 0
        assert after["synthetic-2"]["pid"] == before["synthetic-2"]["pid"]
        handle.stop()
