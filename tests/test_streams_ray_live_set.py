"""Tests for a stream set that changes while it runs on the Ray engine
(``start_streams(..., engine="ray", service=True)``): streams added, removed and restarted each
in an actor of their own, on a local Ray instance the module starts once (2 CPUs, a small object
store); a stream that leaves takes its actor and its CPUs with it, and its name starts afresh."""

from __future__ import annotations

import math
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest

from framepipe import PipelineConfig
from framepipe.logging import configure
from framepipe.streams import StreamsHandle, start_streams
from helpers import wait_until
from ray_helpers import Records, local_ray

PACED = "synthetic:64x48@30:60"  # with realtime: a minute unless stopped
OTHER = "synthetic:32x24@30:60"  # another stream under a name used before
REALTIME = PipelineConfig(realtime=True)
FAULTY = "faulty_processors:exits"  # fails on its sixth frame, in every attempt anew
WAIT_S = 30.0  # an actor's worker process starts and imports numpy and OpenCV
# Ray starts at most as many worker processes at once as the node has CPUs (its
# raylet's maximum_startup_concurrency): more actors than that start in waves, a wait each.
CPUS = 2.0
STARTS_AT_ONCE = CPUS

pytestmark = [pytest.mark.usefixtures("logs_in_tmp"), pytest.mark.local_ray]


@pytest.fixture(scope="module")
def ray_instance() -> Iterator[Any]:
    """One local Ray instance for the module; the engines use it and leave it running."""
    with local_ray(int(CPUS)) as ray:
        yield ray


def frames(handle: StreamsHandle, name: str) -> int:
    return handle.streams[name].snapshot().frames_processed


def all_running(handle: StreamsHandle, names: list[str]) -> bool:
    """Every one of ``names`` has processed a frame."""
    return all(frames(handle, name) >= 1 for name in names)


def actors(ray: Any) -> list[str]:
    """The names of the actors alive now (every stream's actor is named)."""
    return sorted(ray.util.list_named_actors())


def free_cpus(ray: Any) -> float:
    return float(ray.available_resources().get("CPU", 0.0))


def settled(ray: Any, alive: int, cpus_each: float = 1.0) -> bool:
    """``alive`` actors stand and every other CPU is free again (Ray gives them back a moment
    after an actor ends)."""
    return len(actors(ray)) == alive and free_cpus(ray) == CPUS - alive * cpus_each


def service(
    ray: Any, sources: list[str], names: list[str], cpus_each: float = 1.0
) -> StreamsHandle:
    return start_streams(
        sources, config=REALTIME, names=names, engine="ray", service=True,
        ray_cpus_per_stream=cpus_each,
    )  # fmt: skip


def final_pid(report: Any, name: str) -> int:
    """The pid of the last actor the stream had, as its result says."""
    (result,) = [s for s in report.streams if s.stream == name]
    assert result.pid is not None
    return int(result.pid)


class TestChanges:
    def test_streams_join_leave_and_restart_each_in_an_actor_of_its_own(
        self, ray_instance: Any
    ) -> None:
        """A stream added starts an actor; removed, it ends 'stopped' (ok) and its actor and
        CPU are gone; a restart runs a new actor under the stream's name; a stream added
        again under a removed name runs its own source. Every actor's records reach the one
        log. Closing the set leaves no actor."""
        sink = Records()
        configure(handlers=[sink], capture_stdlib=False)
        with service(ray_instance, [PACED], ["base"]) as handle:
            wait_until(lambda: frames(handle, "base") >= 5, "frames of base", WAIT_S)
            handle.add_stream("door", PACED, config=REALTIME)
            wait_until(lambda: frames(handle, "door") >= 5, "frames of door", WAIT_S)
            (first_door,) = [name for name in actors(ray_instance) if name.endswith("-door")]
            door_pid = handle.streams["door"].pid

            removed = handle.remove_stream("door")
            assert removed.ok and removed.ended == "stopped" and removed.pid == door_pid
            assert removed.summary.frames_processed >= 5
            assert "door" not in handle.names
            wait_until(lambda: settled(ray_instance, 1), lambda: f"{actors(ray_instance)}", 15)

            (base_actor,) = actors(ray_instance)
            base_pid = handle.streams["base"].pid
            handle.restart_stream("base")
            wait_until(lambda: handle.streams["base"].pid not in (None, base_pid),
                       "base's new actor", WAIT_S)  # fmt: skip
            before = frames(handle, "base")
            wait_until(lambda: frames(handle, "base") >= before + 5, "base again", WAIT_S)
            (new_base_actor,) = actors(ray_instance)
            assert new_base_actor != base_actor and new_base_actor.startswith(base_actor)

            handle.add_stream("door", OTHER, config=REALTIME)
            wait_until(lambda: frames(handle, "door") >= 5, "frames of door again", WAIT_S)
            assert handle.streams["door"].pid not in (None, door_pid)
            assert actors(ray_instance) == sorted([new_base_actor, first_door])  # its name free
            handle.stop()
            report = handle.wait(WAIT_S)
        assert report is not None and report.ok
        assert {s.stream: s.ended for s in report.streams} == {"base": "stopped", "door": "stopped"}
        wait_until(lambda: settled(ray_instance, 0), lambda: f"{actors(ray_instance)}", 15)

        door = sink.of("door")
        assert {r.process for r in door} == {door_pid, final_pid(report, "door")}
        assert any(r.process == door_pid and "pipeline end (stopped)" in r.getMessage()
                   for r in door)  # fmt: skip
        starts = [r.getMessage() for r in door if "pipeline start" in r.getMessage()]
        assert len(starts) == 2 and PACED in starts[0] and OTHER in starts[1]
        assert {r.process for r in sink.of("base")} == {base_pid, final_pid(report, "base")}


class TestChurn:
    @pytest.mark.timeout(600)  # about 25 s on an idle 2-core machine
    def test_20_add_remove_cycles_leave_no_actor_and_every_cpu_free(
        self, ray_instance: Any
    ) -> None:
        """5 rounds of four streams (half a CPU each) added to a set that started empty, each
        to its first frame, then removed: two names used in every round, two new each time.
        Each removed stream ends 'stopped'; afterwards no actor stands and both CPUs are free,
        with the set still running."""
        with service(ray_instance, [], [], cpus_each=0.5) as handle:
            for round_ in range(5):
                names = ["again0", "again1", f"new{round_}-0", f"new{round_}-1"]
                for name in names:
                    handle.add_stream(name, PACED, config=REALTIME)
                waves = math.ceil(len(names) / STARTS_AT_ONCE)
                wait_until(partial(all_running, handle, names),
                           lambda: f"first frames: {handle.snapshot()}",
                           WAIT_S * waves)  # fmt: skip
                for name in names:
                    result = handle.remove_stream(name)
                    assert result.ok and result.ended == "stopped", result
            assert handle.names == ()
            wait_until(lambda: settled(ray_instance, 0), lambda: f"{actors(ray_instance)}", 15)
            assert not handle.done
            handle.stop()
            assert handle.wait(WAIT_S) is not None


class TestFailed:
    def test_a_stream_failed_for_good_gives_its_cpu_back_and_stays_listed(
        self, ray_instance: Any
    ) -> None:
        """A stream whose processor fails, with no restart to try: it stays in the set as
        ended, but its actor ends at once and its CPU is free; removed, its result says why
        it failed."""
        with service(ray_instance, [], []) as handle:
            handle.add_stream("door", PACED, FAULTY, REALTIME, restart_attempts=0)
            wait_until(lambda: handle.streams["door"].snapshot().state == "ended", "its end",
                       WAIT_S)  # fmt: skip
            wait_until(lambda: settled(ray_instance, 0), lambda: f"{actors(ray_instance)}", 15)
            assert handle.names == ("door",)
            failed = handle.remove_stream("door")
            assert not failed.ok and failed.restarts == ()
            assert failed.error is not None and "3" in failed.error, failed.error
            handle.stop()
            assert handle.wait(WAIT_S) is not None

    def test_a_stream_removed_while_it_waits_to_restart_frees_its_actor_and_name(
        self, ray_instance: Any
    ) -> None:
        """A stream whose processor fails at each attempt, removed while it waits (a second
        or more) for its fourth attempt, its actor standing with restarts left: the actor ends
        and its CPU is free. A stream added under its name runs its own processor in a new
        actor, not the failed stream's again."""
        with service(ray_instance, [], []) as handle:
            handle.add_stream("door", PACED, FAULTY, REALTIME, restart_attempts=5)
            wait_until(lambda: (handle.streams["door"].restart_count or 0) >= 3,
                       "door's third failure", 60.0)  # fmt: skip
            failed = handle.remove_stream("door")  # within the wait of 1-2 s before attempt 4
            assert failed.restart_count >= 2 and not failed.ok  # the third failure ended it
            wait_until(lambda: settled(ray_instance, 0), lambda: f"{actors(ray_instance)}", 15)

            handle.add_stream("door", PACED, "none", REALTIME, restart_attempts=5)
            wait_until(lambda: frames(handle, "door") >= 30, "a second of frames", WAIT_S)
            assert handle.streams["door"].restart_count == 0
            result = handle.remove_stream("door")
            assert result.ok and result.ended == "stopped" and result.restarts == ()
            handle.stop()
            assert handle.wait(WAIT_S) is not None
        wait_until(lambda: settled(ray_instance, 0), lambda: f"{actors(ray_instance)}", 15)
