"""Run the benchmark: every sink x log-every x mode, repeats interleaved A B C A B C ...

Interleaving spreads slow drift of the machine (frequency scaling, other processes, a warming
page cache) evenly over the modes instead of charging it to whichever mode ran last. Each run
gets a fresh sink in a fresh temporary directory; mode setup, draining and teardown happen
outside the timed region, and the cyclic GC is off inside it.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from framepipe._stats import gc_disabled
from framepipe.bench.loop import Clock, RunTimings, time_frames
from framepipe.bench.modes import Mode
from framepipe.bench.sinks import SinkSpec, parse_sink
from framepipe.bench.workload import Workload

__all__ = [
    "BenchConfig",
    "BenchResult",
    "CellResult",
    "CellStatus",
    "PlannedRun",
    "plan_runs",
    "run_benchmark",
]

DEFAULT_BUDGET_MS = 1000 / 30

CellStatus = Literal["ok", "skipped"]


@dataclass(frozen=True)
class BenchConfig:
    """What to measure; validated on construction."""

    frames: int = 300
    repeat: int = 5
    log_every: tuple[int, ...] = (1, 10, 30)
    sinks: tuple[SinkSpec, ...] = field(
        default_factory=lambda: (parse_sink("file"), parse_sink("slow:5"))
    )
    budget_ms: float = DEFAULT_BUDGET_MS
    drain_timeout_s: float = 30.0  # plus twice the sink's own time for the queued records

    def __post_init__(self) -> None:
        if isinstance(self.frames, bool) or not isinstance(self.frames, int) or self.frames < 1:
            raise ValueError(f"frames must be a positive integer, but got {self.frames!r}")
        if isinstance(self.repeat, bool) or not isinstance(self.repeat, int) or self.repeat < 1:
            raise ValueError(f"repeat must be a positive integer, but got {self.repeat!r}")
        if not self.log_every or any(
            isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in self.log_every
        ):
            raise ValueError(
                f"log_every must be positive integers, but got {list(self.log_every)!r}"
            )
        if len(set(self.log_every)) != len(self.log_every):
            raise ValueError(f"log_every must be distinct, but got {list(self.log_every)!r}")
        if not self.sinks:
            raise ValueError("sinks must name at least one sink, but got none")
        if not self.budget_ms > 0:
            raise ValueError(f"budget_ms must be positive, but got {self.budget_ms!r}")
        if not self.drain_timeout_s > 0:
            raise ValueError(f"drain_timeout_s must be positive, but got {self.drain_timeout_s!r}")


@dataclass(frozen=True)
class PlannedRun:
    """One timed run: a mode on a sink at a log rate, in repeat ``repeat_index``."""

    sink: SinkSpec
    log_every: int
    repeat_index: int
    mode: Mode


@dataclass
class CellResult:
    """All runs of one sink x log-every x mode."""

    sink: str
    log_every: int
    mode: str
    status: CellStatus
    note: str = ""  # the mode's description, or why it was skipped
    runs: list[RunTimings] = field(default_factory=list)
    written: int = 0
    dropped: int = 0
    undrained_runs: int = 0  # runs whose records were still queued when the drain timed out


@dataclass(frozen=True)
class BenchResult:
    """The cells in report order (sink, log-every, mode) plus what produced them."""

    config: BenchConfig
    cells: list[CellResult]
    mode_notes: dict[str, str]
    source: str
    processor: str
    frame_shape: tuple[int, ...]


def plan_runs(
    sinks: Sequence[SinkSpec], log_every: Sequence[int], modes: Sequence[Mode], repeat: int
) -> list[PlannedRun]:
    """The run order: per sink and log rate, ``repeat`` rounds of every mode in turn."""
    return [
        PlannedRun(sink=sink, log_every=every, repeat_index=index, mode=mode)
        for sink in sinks
        for every in log_every
        for index in range(repeat)
        for mode in modes
    ]


def run_benchmark(
    workload: Workload,
    config: BenchConfig,
    modes: Sequence[Mode],
    clock: Clock = time.perf_counter_ns,
    on_run: Callable[[PlannedRun], None] | None = None,
    directory: Path | None = None,
) -> BenchResult:
    """Measure every mode; modes whose package is missing become "skipped" cells.

    ``on_run`` is called after each run (outside any timed region), e.g. to advance a progress bar.
    Each run's temporary directory is made in ``directory`` (default: the system's temporary
    directory) and removed after the run.
    """
    reasons = {mode.name: mode.unavailable_reason() for mode in modes}
    runnable = [mode for mode in modes if reasons[mode.name] is None]
    cells: dict[tuple[str, int, str], CellResult] = {}
    for sink in config.sinks:
        for every in config.log_every:
            for mode in modes:
                reason = reasons[mode.name]
                cells[(sink.label, every, mode.name)] = CellResult(
                    sink=sink.label,
                    log_every=every,
                    mode=mode.name,
                    status="ok" if reason is None else "skipped",
                    note=mode.description if reason is None else reason,
                )
    workload.warm_up()
    for planned in plan_runs(config.sinks, config.log_every, runnable, config.repeat):
        cell = cells[(planned.sink.label, planned.log_every, planned.mode.name)]
        timings, written, dropped, drained = _run_once(
            workload, planned, config, clock, directory
        )
        cell.runs.append(timings)
        cell.written += written
        cell.dropped += dropped
        cell.undrained_runs += 0 if drained else 1
        cell.note = planned.mode.description  # a mode may refine it once started
        if on_run is not None:
            on_run(planned)
    notes = {mode.name: reasons[mode.name] or mode.description for mode in modes}
    return BenchResult(
        config=config,
        cells=list(cells.values()),
        mode_notes=notes,
        source=workload.source,
        processor=workload.processor_name,
        frame_shape=workload.shape,
    )


def _run_once(
    workload: Workload,
    planned: PlannedRun,
    config: BenchConfig,
    clock: Clock,
    parent: Path | None,
) -> tuple[RunTimings, int, int, bool]:
    mode = planned.mode
    with tempfile.TemporaryDirectory(prefix="framepipe-bench-", dir=parent) as directory:
        sink = planned.sink.create(Path(directory))
        try:
            target = mode.start(sink, Path(directory))
            try:
                with gc_disabled(collect=True):  # every run starts with no GC backlog
                    timings = time_frames(
                        workload.frames,
                        config.frames,
                        workload.processor,
                        target.info,
                        planned.log_every,
                        template=target.template,
                        clock=clock,
                    )
                expected = len(timings.call_ns)
                timeout = config.drain_timeout_s + 2 * expected * planned.sink.ms / 1000
                drained = mode.drain(expected, timeout)
            finally:
                counts = mode.stop()
        finally:
            sink.close()
    return timings, counts.written, counts.dropped, drained
