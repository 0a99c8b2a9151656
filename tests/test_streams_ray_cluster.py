"""The Ray engine across nodes: three raylets on this machine (``ray.cluster_utils.Cluster``),
three streams each pinned to its own node by a custom resource, and one node removed mid-run.

What it shows is what docs/ray.md promises for a node failure: the lost node's stream restarts
on another node that offers its resource, within its restart attempts; the other streams lose no
frame and no log record; the driver's log holds every stream's records. Each record carries its
stream, the actor's pid and its number there, so a lost record is a gap.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest

from framepipe import PipelineConfig
from framepipe.logging import configure, get_logger
from framepipe.streams import StreamsHandle, start_streams
from helpers import wait_until
from ray_helpers import Records


def _ray() -> Any:
    """Ray, imported when a test runs, not when the tests are collected: importing Ray installs
    a log record factory of its own for the whole process, which the logging tests would see."""
    return pytest.importorskip("ray")


SOURCE = "synthetic:64x48@30:120"  # with realtime: two minutes unless stopped
CONFIG = PipelineConfig(realtime=True, log_every=3)  # ten records a second per stream
OBJECT_STORE = 80 * 2**20  # Ray's minimum is 75 MiB; only messages travel
ATTEMPTS = 2
START_S = 60.0  # three raylets and three actors starting on two busy cores
# Ray notices a lost node by its failed health checks (tens of seconds by default); the
# cluster's checks run every second and give up after three misses.
HEALTH = {
    "health_check_initial_delay_ms": 1000,
    "health_check_period_ms": 1000,
    "health_check_failure_threshold": 3,
}
RESUME_S = 90.0


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """Three nodes: the head (``cam-c``), ``node-x`` (``cam-a``) and ``node-y`` (``cam-b``, and
    a second ``cam-a`` that a placeholder holds until the test lets it go)."""
    import signal

    ray = _ray()
    cluster_utils = pytest.importorskip("ray.cluster_utils")
    sigterm = signal.getsignal(signal.SIGTERM)
    made = cluster_utils.Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 1, "object_store_memory": OBJECT_STORE, "node_name": "node-h",
            "resources": {"cam-c": 1}, "include_dashboard": False, "_system_config": HEALTH,
        },
    )  # fmt: skip
    try:
        made.node_x = made.add_node(num_cpus=1, object_store_memory=OBJECT_STORE,
                                    node_name="node-x", resources={"cam-a": 1})  # fmt: skip
        made.add_node(num_cpus=2, object_store_memory=OBJECT_STORE, node_name="node-y",
                      resources={"cam-a": 1, "cam-b": 2})  # fmt: skip
        ray.init(address=made.address, log_to_driver=False, logging_level=logging.ERROR)
        yield made
    finally:
        ray.shutdown()
        made.shutdown()
        signal.signal(signal.SIGTERM, sigterm)  # ray.init's handler goes with it


def served(server: Any) -> dict[str, dict[str, Any]]:
    """Each stream's entry of the stats server's /system-resources."""
    from monitor_helpers import request

    entries = request(server, "/system-resources").json()["streams"]
    return {entry["stream"]: entry for entry in entries}


def by_stream(records: list[logging.LogRecord]) -> dict[tuple[str, int], list[int]]:
    """The sequence numbers of each (stream, pid)'s records, in the order they were written."""
    seqs: dict[tuple[str, int], list[int]] = defaultdict(list)
    for record in records:
        stream = getattr(record, "stream", "")
        if stream in ("a", "b", "c"):
            seqs[stream, record.process or 0].append(getattr(record, "seq", 0))
    return seqs


@pytest.mark.local_ray  # a cluster of three, on this machine
def test_a_lost_node_restarts_its_stream_elsewhere_and_the_others_lose_nothing(
    cluster: Any,
) -> None:
    """node-x is removed (its raylet and the actor on it killed) while a, b and c run: a restarts
    on node-y within its attempts, b and c lose no frame and no record."""
    from framepipe.monitor import StatsServer
    from framepipe.monitor.providers import Monitored
    from framepipe.streams.ray_engine import RayEngine

    ray = _ray()

    @ray.remote(num_cpus=0, resources={"cam-a": 1, "cam-b": 1})
    class Placeholder:  # only node-y offers both: it keeps a's spare place there
        def ready(self) -> bool:
            return True

    placeholder = Placeholder.remote()  # type: ignore[attr-defined]
    assert ray.get(placeholder.ready.remote(), timeout=START_S)
    sink = Records()
    configure(handlers=[sink], capture_stdlib=False)
    names = ["a", "b", "c"]
    engine = RayEngine(
        restart_attempts=dict.fromkeys(names, ATTEMPTS),
        logger=get_logger("framepipe.streams"),
        resources={"a": {"cam-a": 1}, "b": {"cam-b": 1}, "c": {"cam-c": 1}},
    )
    handle: StreamsHandle | None = None
    try:
        handle = start_streams([SOURCE] * 3, config=CONFIG, names=names, engine=engine,
                               restart_attempts=ATTEMPTS)  # fmt: skip
        streams = handle.streams
        with StatsServer(Monitored(streams=streams), "127.0.0.1", 0) as server:

            def placed() -> bool:
                return all(streams[n].snapshot().frames_processed >= 30 for n in names)

            wait_until(placed, "a second of frames from every stream", timeout=START_S)
            assert [streams[n].node for n in names] == ["node-x", "node-y", "node-h"]
            before = served(server)
            ray.kill(placeholder)  # a's spare place on node-y is free from now on
            wait_until(lambda: ray.available_resources().get("cam-a", 0) >= 1,
                       "the placeholder's cam-a to be free", timeout=START_S)  # fmt: skip
            pid_a, frames_a = streams["a"].pid, streams["a"].snapshot().frames_processed
            cluster.remove_node(cluster.node_x, allow_graceful=False)

            def resumed() -> bool:
                return streams["a"].pid not in (None, pid_a) and (
                    streams["a"].snapshot().frames_processed >= frames_a + 30
                )

            wait_until(resumed, "stream a's frames on another node", timeout=RESUME_S)
            wait_until(lambda: served(server)["a"]["node"] == "node-y",
                       "the stats server to show a's new node", timeout=10.0)  # fmt: skip
            after = served(server)
            handle.stop()
            report = handle.wait(60.0)
    finally:
        if handle is not None:
            handle.close()
        engine.close()
        get_logger().stop()
    assert report is not None
    a, b, c = report.streams
    # The lost node's stream: one restart, on node-y, and its frames go on there.
    (attempt,) = a.restarts
    assert attempt.pid == pid_a and attempt.frames_processed >= 30
    assert attempt.exit is None  # a process on a lost node leaves no exit status
    assert attempt.error == (
        "the actor died (its node node-x was lost); Ray restarted it on node node-y"
    )
    assert a.ok and a.ended == "stopped" and a.node == "node-y"
    assert (before["a"]["node"], after["a"]["node"]) == ("node-x", "node-y")
    assert after["a"]["pid"] not in (None, pid_a)
    # The others: no restart, no frame dropped, still where they were.
    for other, node in ((b, "node-y"), (c, "node-h")):
        assert other.ok and other.restarts == () and other.node == node
        assert other.summary.frames_dropped == 0
        assert other.summary.frames_read == other.summary.frames_processed
    # The driver's log: every record of b and c, numbered 1, 2, ... without a gap; a's first
    # attempt without a gap up to its last record, its second from 1 to its end.
    seqs = by_stream(sink.records)
    assert {stream for stream, _ in seqs} == {"a", "b", "c"}
    for (stream, pid), numbers in seqs.items():
        assert numbers == list(range(1, len(numbers) + 1)), (stream, pid)
    assert sorted(pid for stream, pid in seqs if stream == "a") == sorted([pid_a, a.pid])
    ends = [r for r in sink.records if r.getMessage().startswith("pipeline end")]
    assert sorted(getattr(r, "stream", "") for r in ends) == ["a", "b", "c"]
