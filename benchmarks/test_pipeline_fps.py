"""Frame-rate targets of the pipeline, on a 720p clip made once per session.

Run: pytest benchmarks/test_pipeline_fps.py --benchmark-only

What is asserted is what this design reaches (docs/measurements/pipeline-fps.md): with
single-threaded stages, at least 0.9 of the two-stage ceiling ``pipeline_fps.ceilings`` measures
in the same run; with OpenCV's own threads, at least 0.95x CamGear; and not a 1.8x over the bare
loop there, which that page explains is out of reach when decoding and Canny already keep both
cores busy. A results file nobody reads (a FIFO) costs the frame loop at most 1.1x its p50.
Comparisons run interleaved in one process (A B A B ...), so drift hits both sides alike; ratios
of medians go to ``extra_info``. ``benchmarks/pipeline_fps.py`` prints all variants as one table.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from framepipe import Pipeline, PipelineReport
from framepipe._stats import gc_disabled
from framepipe.logging import Logger, configure
from framepipe.pipeline.processors import PROCESSOR_NAMES, get_processor
from pipeline_fps import (
    CEILING_SHARE,
    Run,
    SnapshotOverhead,
    bare_loop,
    build_workloads,
    camgear_loop,
    ceilings,
    decode_all,
    make_clip,
    measure_interleaved,
    median_fps,
    pipeline_run,
    snapshot_overhead,
)

FRAMES = 300
ROUNDS = 7
BUDGET_MS = 33.0


@pytest.fixture(scope="module")
def clip_720p(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """300 frames of the synthetic 1280x720 scene, written with cv2.VideoWriter (mp4v)."""
    return make_clip(tmp_path_factory.mktemp("clip") / "clip720.mp4", FRAMES)


@pytest.fixture(scope="module")
def clip_720p_mjpg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same scene as MJPG, whose decoder runs on one thread."""
    return make_clip(tmp_path_factory.mktemp("clip") / "clip720.avi", FRAMES, codec="MJPG")


@pytest.fixture
def single_threaded_opencv() -> Iterator[None]:
    """cv2.setNumThreads(1) for the test: decoding and Canny each on one thread."""
    before = cv2.getNumThreads()
    cv2.setNumThreads(1)
    yield
    cv2.setNumThreads(before)


@pytest.fixture(scope="module")
def app_logger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Logger]:
    """The application's logger, configured once, as a program using the pipeline would."""
    log = configure(log_dir=tmp_path_factory.mktemp("logs"))
    yield log
    log.stop()


def speedup_over_interleaved_baseline(
    benchmark: Any, subject: Callable[[], int], baseline: Callable[[], int]
) -> float:
    """Benchmark ``subject`` with ``baseline`` run before each round; FPS ratio of the medians.

    Both process the same clip, so the ratio of median times is the ratio of median FPS.
    """
    baseline_s: list[float] = []
    frames: list[int] = []

    def run_baseline() -> None:
        with gc_disabled():
            started = time.perf_counter()
            frames.append(baseline())
            baseline_s.append(time.perf_counter() - started)

    def run_subject() -> None:
        with gc_disabled():
            frames.append(subject())

    benchmark.pedantic(run_subject, setup=run_baseline, rounds=ROUNDS, warmup_rounds=1)
    assert set(frames) == {FRAMES}, "every run must process the whole clip"
    subject_median_s = float(benchmark.stats.stats.median)
    baseline_median_s = statistics.median(baseline_s)
    ratio = baseline_median_s / subject_median_s
    benchmark.extra_info["baseline_median_s"] = baseline_median_s
    benchmark.extra_info["subject_fps_median"] = FRAMES / subject_median_s
    benchmark.extra_info["baseline_fps_median"] = FRAMES / baseline_median_s
    benchmark.extra_info["speedup"] = ratio
    return ratio


@pytest.mark.benchmark(group="pipeline fps, edges, 720p, single-threaded stages")
@pytest.mark.usefixtures("single_threaded_opencv")
def test_pipeline_with_single_threaded_stages_reaches_0_9_of_the_two_stage_ceiling(
    benchmark: Any, clip_720p_mjpg: Path, app_logger: Logger
) -> None:
    """With decoding and Canny each on one thread, overlapping them is what the pipeline is
    for: over a bare read-process loop it gains at least 0.9 of the two-stage ceiling,
    (decode + edges) / max(decode, edges), measured in this same run."""
    clip = clip_720p_mjpg
    workloads = build_workloads(
        clip, decode_all(clip), app_logger, with_pipeline=True, with_camgear=False
    )
    del workloads["pipeline none"]
    results: dict[str, list[Run]] = {}
    benchmark.pedantic(
        lambda: results.update(measure_interleaved(workloads, ROUNDS)), rounds=1, iterations=1
    )
    medians = median_fps(results)
    ratio = medians["pipeline edges"] / medians["bare loop edges"]
    limits = ceilings(results)
    benchmark.extra_info.update(
        speedup=ratio,
        two_stage_ceiling=limits.two_stage,
        cpu_ceiling=limits.cpu,
        target=CEILING_SHARE * limits.two_stage,
        fps_median=medians,
    )
    load = os.getloadavg()[0]
    benchmark.extra_info["load_average"] = load
    # The gain needs the second core: other work on the machine takes it (load in the message).
    assert ratio >= CEILING_SHARE * limits.two_stage, (
        f"{ratio:.2f}x over the bare loop; ceilings: two-stage {limits.two_stage:.2f}x,"
        f" CPU {limits.cpu:.2f}x; load average {load:.2f}"
    )


@pytest.mark.benchmark(group="pipeline fps, edges, 720p")
def test_pipeline_with_edges_keeps_0_95x_of_camgear(
    benchmark: Any, clip_720p: Path, app_logger: Logger
) -> None:
    """framepipe's reader thread keeps up with VidGear's CamGear on the same work."""
    pytest.importorskip(
        "vidgear.gears", reason="vidgear is not installed: CamGear comes with the 'compare' extra"
    )
    ratio = speedup_over_interleaved_baseline(
        benchmark,
        lambda: pipeline_run(clip_720p, get_processor("edges"), app_logger),
        lambda: camgear_loop(clip_720p, get_processor("edges")),
    )
    assert ratio >= 0.95


@pytest.mark.benchmark(group="pipeline fps, no processing, 720p")
def test_pipeline_with_no_processing_keeps_0_8x_of_a_bare_read_loop(
    benchmark: Any, clip_720p: Path, app_logger: Logger
) -> None:
    """With nothing to overlap, the pipeline's own cost shows: handing each 2.7 MB frame from
    the reader thread to the loop costs 60-150 us against ~1.1 ms of decoding
    (docs/measurements/pipeline-fps.md)."""
    ratio = speedup_over_interleaved_baseline(
        benchmark,
        lambda: pipeline_run(clip_720p, get_processor("none"), app_logger),
        lambda: bare_loop(clip_720p, get_processor("none")),
    )
    assert ratio >= 0.8


@pytest.mark.benchmark(group="snapshot overhead, edges, 720p")
def test_snapshots_100_times_a_second_leave_the_p50_frame_time_within_noise(
    benchmark: Any, clip_720p: Path, app_logger: Logger
) -> None:
    """Another thread calling snapshot() 100 times a second does not slow the loop: the
    median p50 frame time watched / unwatched (interleaved) is within the runs' own spread."""
    measured: list[SnapshotOverhead] = []
    benchmark.pedantic(
        lambda: measured.append(snapshot_overhead(clip_720p, app_logger, ROUNDS)),
        rounds=1,
        iterations=1,
    )
    overhead = measured[0]
    benchmark.extra_info.update(
        p50_ratio=overhead.ratio,
        unwatched_spread=overhead.noise,
        snapshots=overhead.snapshots,
        unwatched_p50_ms=overhead.unwatched_p50_ms,
        watched_p50_ms=overhead.watched_p50_ms,
    )
    assert overhead.snapshots >= ROUNDS * 10  # a watched run lasts 0.3 s or more
    assert overhead.ratio <= 1.0 + max(0.05, overhead.noise)


@pytest.mark.benchmark(group="processor p99 frame time, 720p synthetic")
@pytest.mark.parametrize("name", PROCESSOR_NAMES)
def test_builtin_processor_keeps_p99_frame_time_under_33_ms_at_720p(
    benchmark: Any, name: str, app_logger: Logger
) -> None:
    """Each built-in fits a 30 FPS budget at 1280x720: frame_ms.p99 < 33 ms in the report."""
    reports: list[PipelineReport] = []

    def run() -> None:
        pipeline = Pipeline(
            "synthetic:1280x720@30:10", processor=name, budget_ms=BUDGET_MS, logger=app_logger
        )
        reports.append(pipeline.run())

    benchmark.pedantic(run, rounds=1)
    report = reports[-1]
    frame_ms = report.frame_ms
    benchmark.extra_info.update({f"frame_ms_{key}": value for key, value in frame_ms.items()})
    benchmark.extra_info["budget_misses"] = report.budget_misses
    assert report.frames_processed == FRAMES
    assert np.isfinite(frame_ms["p99"])
    assert frame_ms["p99"] < BUDGET_MS


def _padded_results(frame: Any) -> tuple[Any, dict[str, str]]:
    """About 200 bytes of results a frame, after 1 ms."""
    time.sleep(0.001)
    return frame, {"pad": "x" * 200}


@pytest.mark.benchmark(group="results to a FIFO nobody reads")
def test_a_results_file_nobody_reads_leaves_the_p50_frame_time_within_1_1x(
    benchmark: Any, tmp_path: Path, app_logger: Logger
) -> None:
    """A FIFO whose reader never reads: its writer blocks once the pipe is full, the frame loop
    does not. Median p50 frame time with it / without results, interleaved, <= 1.1."""
    fifo = tmp_path / "results.fifo"
    os.mkfifo(fifo)
    without: list[float] = []
    with_fifo: list[float] = []

    def p50(results: Path | None) -> float:
        report = Pipeline(
            "synthetic:64x48@30:100", processor=_padded_results, results=results,
            max_frames=2500, logger=app_logger,
        ).run()  # fmt: skip
        assert results is None or report.results_dropped > 0  # the pipe did fill up
        return float(report.frame_ms["p50"])

    def rounds() -> None:
        for _ in range(ROUNDS):  # interleaved, so a busy moment hits both kinds
            without.append(p50(None))
            with_fifo.append(p50(fifo))

    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # opened, never read
    try:
        benchmark.pedantic(rounds, rounds=1, iterations=1)
    finally:
        os.close(reader)
    ratio = statistics.median(with_fifo) / statistics.median(without)
    benchmark.extra_info.update(
        p50_ratio=ratio, without_p50_ms=without, with_fifo_p50_ms=with_fifo
    )
    assert ratio <= 1.1, (with_fifo, without)
