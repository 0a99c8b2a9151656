"""A Ray node lost mid-run: how long its stream takes to resume elsewhere, and what is lost.

    python benchmarks/ray_node_loss.py                        # 3 rounds, fast health checks
    python benchmarks/ray_node_loss.py --repeat 5 --health ray-default

Each round starts a cluster of three raylets on this machine (``ray.cluster_utils.Cluster``):
``node-h`` (the head, resource ``cam-c``), ``node-x`` (``cam-a``) and ``node-y`` (``cam-b``, and
a spare ``cam-a`` a placeholder actor holds until the streams are placed). Streams ``a``, ``b``
and ``c`` (synthetic, 30 FPS in real time, a record every third frame) are pinned to their nodes
by those resources. After ``--run-s`` seconds the placeholder is let go and ``node-x`` is removed
without grace (its raylet and the actor on it killed); stream ``a`` restarts on ``node-y``.

Figures per round, all on this machine's one clock:

- noticed: from the removal to the driver's record that the actor died and was restarted;
- resumed: from the removal to the first record of the restarted actor;
- a's lost attempt: its last record that reached the driver, relative to the removal (negative:
  made after it, by the actor still running while its raylet was gone), and gaps in its numbers;
- b and c: gaps in their numbers, frames dropped, restarts (all expected 0).

``--health fast`` sets the cluster's health checks to every second, three misses (the test's
setting); ``ray-default`` leaves Ray's own (a check every 3 s, five misses).
"""

from __future__ import annotations

import argparse
import logging
import signal
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from framepipe import PipelineConfig
from framepipe.logging import configure, get_logger
from framepipe.streams import start_streams
from framepipe.streams.ray_engine import RayEngine

SOURCE = "synthetic:64x48@30:600"
CONFIG = PipelineConfig(realtime=True, log_every=3)
OBJECT_STORE = 80 * 2**20
FAST_HEALTH = {
    "health_check_initial_delay_ms": 1000,
    "health_check_period_ms": 1000,
    "health_check_failure_threshold": 3,
}
NAMES = ("a", "b", "c")


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass(frozen=True)
class Round:
    noticed_s: float
    resumed_s: float
    last_record_before_s: float  # removal minus the lost attempt's last delivered record
    gaps_a: int  # records missing inside a's lost attempt before its last delivered one
    gaps_others: int
    dropped_others: int
    restarts_others: int
    restarted_on: str | None


def gaps(numbers: list[int]) -> int:
    return (max(numbers) - len(numbers)) if numbers else 0


def wait_for(condition: Any, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.05)


def one_round(health: dict[str, int] | None, run_s: float) -> Round:
    import ray
    from ray.cluster_utils import Cluster

    head: dict[str, Any] = {
        "num_cpus": 1, "object_store_memory": OBJECT_STORE, "node_name": "node-h",
        "resources": {"cam-c": 1}, "include_dashboard": False,
    }  # fmt: skip
    if health is not None:
        head["_system_config"] = health
    sigterm = signal.getsignal(signal.SIGTERM)
    cluster = Cluster(initialize_head=True, head_node_args=head)
    try:
        node_x = cluster.add_node(num_cpus=1, object_store_memory=OBJECT_STORE,
                                  node_name="node-x", resources={"cam-a": 1})  # fmt: skip
        cluster.add_node(num_cpus=2, object_store_memory=OBJECT_STORE, node_name="node-y",
                         resources={"cam-a": 1, "cam-b": 2})  # fmt: skip
        ray.init(address=cluster.address, log_to_driver=False, logging_level=logging.ERROR)

        @ray.remote(num_cpus=0, resources={"cam-a": 1, "cam-b": 1})
        class Placeholder:
            def ready(self) -> bool:
                return True

        placeholder = Placeholder.remote()  # type: ignore[attr-defined]
        ray.get(placeholder.ready.remote(), timeout=60)
        sink = Records()
        configure(handlers=[sink], capture_stdlib=False)
        engine = RayEngine(
            restart_attempts=dict.fromkeys(NAMES, 2),
            logger=get_logger("framepipe.streams"),
            resources={"a": {"cam-a": 1}, "b": {"cam-b": 1}, "c": {"cam-c": 1}},
        )
        try:
            with start_streams([SOURCE] * 3, config=CONFIG, names=list(NAMES), engine=engine,
                               restart_attempts=2) as handle:  # fmt: skip
                streams = handle.streams
                wait_for(lambda: all(streams[n].snapshot().frames_processed >= 30 for n in NAMES),
                         "every stream's frames", 60)  # fmt: skip
                time.sleep(run_s)
                ray.kill(placeholder)
                wait_for(lambda: ray.available_resources().get("cam-a", 0) >= 1,
                         "the spare cam-a", 30)  # fmt: skip
                pid_a = streams["a"].pid
                removed_at = time.time()
                cluster.remove_node(node_x, allow_graceful=False)
                wait_for(lambda: streams["a"].pid not in (None, pid_a), "a's restart", 180)
                time.sleep(3.0)
                handle.stop()
                report = handle.wait(60.0)
        finally:
            engine.close()
            get_logger().stop()
    finally:
        ray.shutdown()
        cluster.shutdown()
        signal.signal(signal.SIGTERM, sigterm)
    assert report is not None
    a, b, c = report.streams
    seqs: dict[tuple[str, int | None], list[int]] = defaultdict(list)
    made: dict[tuple[str, int | None], list[float]] = defaultdict(list)
    noticed = None
    for record in sink.records:
        stream = getattr(record, "stream", "")
        if stream in NAMES:
            seqs[stream, record.process].append(getattr(record, "seq", 0))
            made[stream, record.process].append(record.created)
        elif "Ray restarted it" in record.getMessage() and noticed is None:
            noticed = record.created
    return Round(
        noticed_s=(noticed or float("nan")) - removed_at,
        resumed_s=min(made["a", a.pid]) - removed_at,
        last_record_before_s=removed_at - max(made["a", pid_a]),
        gaps_a=gaps(seqs["a", pid_a]),
        gaps_others=sum(gaps(seqs[s.stream, s.pid]) for s in (b, c)),
        dropped_others=sum(s.summary.frames_dropped for s in (b, c)),
        restarts_others=sum(len(s.restarts) for s in (b, c)),
        restarted_on=a.node,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--health", choices=("fast", "ray-default"), default="fast")
    parser.add_argument("--run-s", type=float, default=5.0, help="running time before the loss")
    args = parser.parse_args()
    health = FAST_HEALTH if args.health == "fast" else None
    rounds = []
    print("| round | noticed s | resumed s | a: last record, s before removal | a: gaps | "
          "b+c: gaps | b+c: dropped | b+c: restarts | a restarted on |")  # fmt: skip
    print("|--:|--:|--:|--:|--:|--:|--:|--:|---|")
    for n in range(1, args.repeat + 1):
        r = one_round(health, args.run_s)
        rounds.append(r)
        print(f"| {n} | {r.noticed_s:.1f} | {r.resumed_s:.1f} | {r.last_record_before_s:+.2f} | "
              f"{r.gaps_a} | {r.gaps_others} | {r.dropped_others} | {r.restarts_others} | "
              f"{r.restarted_on} |", flush=True)  # fmt: skip
    print(f"median: noticed {statistics.median(r.noticed_s for r in rounds):.1f} s, resumed "
          f"{statistics.median(r.resumed_s for r in rounds):.1f} s")  # fmt: skip


if __name__ == "__main__":
    main()
