"""Tests for framepipe.streams.attempts: a stream restarted for a week in constant memory, its
percentiles over every attempt."""

from __future__ import annotations

import dataclasses
import logging
import tracemalloc
from collections.abc import Sequence

import numpy as np
import pytest

from framepipe import PipelineConfig
from framepipe.pipeline.report import PipelineReport
from framepipe.pipeline.stats import FrameStats
from framepipe.pipeline.status import RunStatus
from framepipe.streams import run_streams
from framepipe.streams._messages import Finished, Snapshot, Started, WorkerMessage
from framepipe.streams._supervisor import Supervisor
from framepipe.streams.attempts import KEPT_ATTEMPTS, AttemptLog
from framepipe.streams.engine import WorkerHandle
from framepipe.streams.job import StreamJob
from framepipe.streams.report import Attempt
from helpers import ManualClock

WEEK_OF_MINUTES = 7 * 24 * 60  # a stream restarted every minute for a week: 10,080 attempts
FRAMES_PER_ATTEMPT = 40


def attempt_report(seed: int) -> PipelineReport:
    """What one attempt's worker reports: a real FrameStats summary of 40 frames whose times
    are drawn from a log-normal distribution (one per seed)."""
    clock = ManualClock()
    stats = FrameStats(budget_ms=33.3, clock=clock)
    stats.start()
    for ms in frame_times(seed):
        started = stats.begin_frame()
        clock.now += ms / 1000
        stats.finish_frame(started, started)
    stats.stop()
    return PipelineReport("cam.mp4", "none", FRAMES_PER_ATTEMPT, stats.summary(), {})


def frame_times(seed: int) -> list[float]:
    rng = np.random.default_rng(seed)
    return rng.lognormal(1.0 + seed / 5, 0.4, FRAMES_PER_ATTEMPT).tolist()


class FailingWorker:
    """A worker that ran its frames, sent its snapshot and a report saying its source failed."""

    node = None
    death = None

    def __init__(self, pid: int, report: PipelineReport) -> None:
        self.pid = pid
        snapshot = dataclasses.replace(
            RunStatus("cam.mp4", 33.3).snapshot(0.0),
            state="running", frames_read=FRAMES_PER_ATTEMPT, frames_processed=FRAMES_PER_ATTEMPT,
        )  # fmt: skip
        self._unread: list[WorkerMessage] = [
            Started(pid),
            Snapshot(snapshot),
            Finished(report, "error", "source failed: the camera went away"),
        ]

    def messages(self) -> list[WorkerMessage]:
        messages, self._unread = self._unread, []
        return messages

    def exit_code(self) -> int | None:
        return 1

    def stop(self) -> None:
        pass

    def kill(self) -> None:
        pass

    def close(self) -> None:
        pass


class FailingEngine:
    """Runs each attempt in this process; attempt ``n`` reports ``reports[n % len(reports)]``.

    It traces allocations from attempt ``measure_from`` on and reads what they hold every
    1,000 attempts: the first reading includes the supervisor's state as allocated again since
    the trace began (its last attempts, its sketches), the later ones only what grows.
    """

    name = "in-process"

    def __init__(self, reports: Sequence[PipelineReport], measure_from: int) -> None:
        self.reports = reports
        self.measure_from = measure_from
        self.started = 0
        self.used: list[int] = [0] * len(reports)
        self.traced_at_start: int | None = None
        self.traced_since: list[int] = []

    def start(self, job: StreamJob) -> WorkerHandle:
        if self.started == self.measure_from:
            tracemalloc.start()
            self.traced_at_start = tracemalloc.get_traced_memory()[0]
        elif self.traced_at_start is not None and self.started % 1000 == 0:
            self.traced_since.append(tracemalloc.get_traced_memory()[0] - self.traced_at_start)
        variant = self.started % len(self.reports)
        self.used[variant] += 1
        self.started += 1
        return FailingWorker(1000 + self.started, self.reports[variant])

    def wait(self, workers: Sequence[WorkerHandle], timeout: float) -> None:
        pass


def supervise(engine: FailingEngine, restarts: int) -> Supervisor:
    job = StreamJob("door", "rtsp://door.local/stream", None, PipelineConfig(), cv_threads=1)
    quiet = logging.Logger("attempts-test", level=logging.CRITICAL)  # unregistered, no handler
    # Each clock read moves a minute on: every restart backoff has passed at the next step.
    return Supervisor([job], engine, [restarts], logger=quiet, clock=ManualClock(step=60.0))


class TestAWeekOfRestarts:
    # About 20 s of one core (the supervisor's work for 10,080 restarts, traced); a core shared
    # with the suite's other workers and busy neighbours takes several times that.
    @pytest.mark.timeout(600)
    def test_ten_thousand_attempts_take_no_more_memory_after_the_first_thousands(self) -> None:
        """A stream restarted every minute for a week: from attempt 2,000 to 10,080 the
        supervisor's memory does not grow (a record per attempt would: ~1 MB); the summary lists the
        last 100 attempts and counts all of them, every frame counted once, and its percentiles
        are those of every attempt's frames, within 1 %."""
        reports = [attempt_report(seed) for seed in range(10)]
        engine = FailingEngine(reports, measure_from=1000)
        try:
            report = supervise(engine, WEEK_OF_MINUTES).run()
            engine.traced_since.append(tracemalloc.get_traced_memory()[0] - engine.traced_at_start)
        finally:
            tracemalloc.stop()
        assert engine.started == WEEK_OF_MINUTES + 1
        first, *later = engine.traced_since
        assert max(later) - first < 32 * 1024, engine.traced_since
        (stream,) = report.streams
        entry = stream.to_dict()
        assert len(entry["restarts"]) == KEPT_ATTEMPTS and entry["restart_count"] == 10_080
        assert entry["restarts"][-1]["pid"] == 1000 + WEEK_OF_MINUTES  # the latest ones
        every_frame = np.concatenate(
            [np.repeat(frame_times(seed), used) for seed, used in enumerate(engine.used)]
        )
        assert stream.summary.frame_stats.frame_sketch is not None
        assert stream.summary.frame_stats.frame_sketch.count == every_frame.size
        assert entry["percentiles_estimated"] is True
        for key, q in (("p50", 50), ("p95", 95), ("p99", 99)):
            exact = float(np.percentile(every_frame, q))
            assert abs(entry["frame_ms"][key] - exact) <= 0.01 * exact + 1e-3, (key, exact)
        assert entry["frame_ms"]["max"] == pytest.approx(every_frame.max(), abs=1e-3)
        assert report.to_dict()["total"]["frame_ms"] == entry["frame_ms"]  # one stream

    def test_a_restarted_stream_s_percentiles_cover_every_attempt(self) -> None:
        """Two attempts, one fast and one slow: the stream's p50 is that of both, not of the
        last attempt alone."""
        fast, slow = attempt_report(0), attempt_report(9)
        report = supervise(FailingEngine([fast, slow], measure_from=-1), 1).run()
        (stream,) = report.streams
        both = np.concatenate([frame_times(0), frame_times(9)])
        exact = float(np.percentile(both, 50))
        assert abs(stream.summary.frame_ms["p50"] - exact) <= 0.01 * exact + 1e-3
        assert stream.summary.frame_ms["p50"] < slow.frame_ms["p50"] * 0.9
        assert stream.summary.percentiles_estimated


class TestAttemptLog:
    def test_counts_every_attempt_and_keeps_the_last(self) -> None:
        log = AttemptLog(kept=3)
        for pid in range(10):
            log.append(Attempt(pid, -9, "killed", 1))
        assert len(log) == 10 and [a.pid for a in log] == [7, 8, 9] and log[-1].pid == 9

    def test_pop_takes_back_the_latest_and_uncounts_it(self) -> None:
        """A stream stopped while it waits to restart ends as that attempt failed."""
        log = AttemptLog(kept=3)
        for pid in range(5):
            log.append(Attempt(pid, -9, "killed", 1))
        assert log.pop().pid == 4 and len(log) == 4 and [a.pid for a in log] == [2, 3]

    @pytest.mark.parametrize("kept", [0, -1, True])
    def test_rejects_a_count_that_is_not_positive(self, kept: int) -> None:
        with pytest.raises(ValueError, match="kept must be a positive integer"):
            AttemptLog(kept=kept)


@pytest.mark.usefixtures("logs_in_tmp")
def test_the_total_over_worker_processes_has_percentiles_of_every_frame() -> None:
    """Two real workers: their reports' sketches cross the process boundary, and the total has
    a p99 from the streams' own up to their slowest frame (it had none).

    Not at most the larger p99: a percentile interpolates between two frames, and over the 60
    frames of both a p99 sits nearer the slowest frame than over the 30 of one, so one slow
    frame (a busy machine) puts the total's above both streams' own."""
    sources = ["synthetic:64x48@30:1", "synthetic:320x240@30:1"]
    report = run_streams(sources, processor="edges")
    total = report.to_dict()["total"]
    p99s = [stream.summary.frame_ms["p99"] for stream in report.streams]
    assert total["percentiles_estimated"] is True
    slowest = max(s.summary.frame_ms["max"] for s in report.streams)
    assert min(p99s) * 0.99 <= total["frame_ms"]["p99"] <= slowest * 1.01
    assert total["frame_ms"]["max"] == slowest
