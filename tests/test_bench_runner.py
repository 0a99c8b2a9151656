"""Tests for framepipe.bench.runner: run order, skipped modes, cells, configuration checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from framepipe.bench.modes import Mode, NoLogging, StdlibQueueMode
from framepipe.bench.runner import BenchConfig, PlannedRun, plan_runs, run_benchmark
from framepipe.bench.sinks import parse_sink
from framepipe.bench.workload import Workload
from helpers import ManualClock


class NamedMode(NoLogging):
    """A do-nothing mode with a name, to look at the run order."""

    def __init__(self, name: str) -> None:
        self.name = name


class MissingPackageMode(NoLogging):
    """A mode whose package really does not exist: its import fails."""

    name = "missing"
    requires = "framepipe_no_such_package_for_tests"


def _workload(clock: ManualClock, frame_ns: int = 2_000_000) -> Workload:
    def processor(frame: Any) -> Any:
        clock.now += frame_ns
        return frame

    frames = [np.zeros((4, 4), np.uint8) for _ in range(2)]
    return Workload(frames, processor, "tiny", "custom")


def test_runs_are_interleaved_mode_by_mode_within_each_repeat() -> None:
    """Per sink and log rate: A B C, A B C ... rather than A A B B C C."""
    modes: list[Mode] = [NamedMode("A"), NamedMode("B"), NamedMode("C")]
    sinks = [parse_sink("file"), parse_sink("slow:1")]
    plan = plan_runs(sinks, [1, 10], modes, repeat=2)
    order = [(run.sink.label, run.log_every, run.repeat_index, run.mode.name) for run in plan]
    expected = [
        (sink, every, index, mode)
        for sink in ("file", "slow:1")
        for every in (1, 10)
        for index in (0, 1)
        for mode in "ABC"
    ]
    assert order == expected


def test_run_benchmark_follows_the_plan_and_fills_every_cell(tmp_path: Path) -> None:
    """Every planned run happens once, in plan order, and lands in its cell."""
    clock = ManualClock(0)
    modes: list[Mode] = [NoLogging(), StdlibQueueMode()]
    config = BenchConfig(frames=4, repeat=2, log_every=(1, 2), sinks=(parse_sink("slow:0"),))
    seen: list[PlannedRun] = []
    result = run_benchmark(_workload(clock), config, modes, clock=clock, on_run=seen.append)
    assert [(run.log_every, run.repeat_index, run.mode.name) for run in seen] == [
        (1, 0, "none"),
        (1, 0, "stdlib-queue"),
        (1, 1, "none"),
        (1, 1, "stdlib-queue"),
        (2, 0, "none"),
        (2, 0, "stdlib-queue"),
        (2, 1, "none"),
        (2, 1, "stdlib-queue"),
    ]
    cells = {(cell.log_every, cell.mode): cell for cell in result.cells}
    assert [len(cell.runs) for cell in result.cells] == [2, 2, 2, 2]
    # 4 frames x 2 repeats; logging every frame, then every 2nd frame
    assert cells[(1, "stdlib-queue")].written == 8
    assert cells[(2, "stdlib-queue")].written == 4
    assert cells[(1, "none")].written == 0
    # the injected clock saw exactly the processor's 2 ms per frame for the baseline
    assert cells[(1, "none")].runs[0].frame_ns == [2_000_000] * 4


def test_a_mode_with_a_missing_package_is_skipped_not_an_error() -> None:
    """The missing mode gets "skipped" cells with the reason; the others still run."""
    clock = ManualClock(0)
    modes: list[Mode] = [NoLogging(), MissingPackageMode()]
    config = BenchConfig(frames=2, repeat=1, log_every=(1,), sinks=(parse_sink("slow:0"),))
    seen: list[PlannedRun] = []
    result = run_benchmark(_workload(clock), config, modes, clock=clock, on_run=seen.append)
    statuses = {cell.mode: cell.status for cell in result.cells}
    assert statuses == {"none": "ok", "missing": "skipped"}
    assert [run.mode.name for run in seen] == ["none"]
    skipped = next(cell for cell in result.cells if cell.mode == "missing")
    assert skipped.runs == []
    assert "framepipe_no_such_package_for_tests" in skipped.note
    assert "framepipe_no_such_package_for_tests" in result.mode_notes["missing"]


class FailsAfter:
    """A processor that works ``remaining`` times, then raises."""

    def __init__(self, remaining: int) -> None:
        self.remaining = remaining

    def __call__(self, frame: Any) -> Any:
        self.remaining -= 1
        if self.remaining < 0:
            raise RuntimeError("processor failed")
        return frame


def test_a_processor_failing_in_the_timed_loop_still_stops_the_mode() -> None:
    """The error propagates, but only after the mode was torn down (no leaked listener thread)."""
    stopped: list[str] = []

    class TrackingMode(StdlibQueueMode):
        def stop(self) -> Any:
            stopped.append(self.name)
            return super().stop()

    # survives the 5 warm-up calls and one timed frame, then fails inside the timed loop
    workload = Workload([np.zeros((2, 2), np.uint8)], FailsAfter(6), "tiny", "flaky")
    config = BenchConfig(frames=3, repeat=1, log_every=(1,), sinks=(parse_sink("slow:0"),))
    modes: list[Mode] = [TrackingMode()]
    with pytest.raises(RuntimeError, match="processor failed"):
        run_benchmark(workload, config, modes)
    assert stopped == ["stdlib-queue"]


class TestBenchConfig:
    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"frames": 0}, "frames must be a positive integer, but got 0"),
            ({"repeat": 0}, "repeat must be a positive integer, but got 0"),
            ({"log_every": ()}, "log_every must be positive integers"),
            ({"log_every": (1, 0)}, "log_every must be positive integers"),
            ({"log_every": (5, 5)}, "log_every must be distinct"),
            ({"sinks": ()}, "sinks must name at least one sink"),
            ({"budget_ms": 0.0}, "budget_ms must be positive, but got 0.0"),
            ({"drain_timeout_s": -1.0}, "drain_timeout_s must be positive"),
        ],
    )
    def test_rejects_bad_values(self, kwargs: dict[str, Any], message: str) -> None:
        """Each bad setting is a ValueError with the expected and the actual value."""
        with pytest.raises(ValueError, match=message):
            BenchConfig(**kwargs)

    def test_defaults_match_the_command_line(self) -> None:
        """300 frames, 5 repeats, log every 1/10/30 frames, sinks file and slow:5, 30 FPS budget."""
        config = BenchConfig()
        assert (config.frames, config.repeat, config.log_every) == (300, 5, (1, 10, 30))
        assert [sink.label for sink in config.sinks] == ["file", "slow:5"]
        assert config.budget_ms == pytest.approx(33.333, abs=1e-3)
