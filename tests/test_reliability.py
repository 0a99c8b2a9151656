"""A running pipeline against the faults of a long run: a log sink that fails mid-run (a full
disk, its directory deleted or made read-only, a handler that raises for a while), and the ways
a process ends while it logs hard (signals, crashes, ``sys.exit``, ``os._exit``).

Every fault is the real thing: ``/dev/full``, a directory removed with ``rmtree``, a read-only
file system mounted over the log directory, signals sent to a child process.
"""

from __future__ import annotations

import errno
import json
import logging
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from framepipe.logging import BatchRotatingFileHandler, Logger, configure
from framepipe.pipeline import Pipeline, PipelineReport
from helpers import child_command
from mounts import tmpfs
from video_files import count_frames

FORMAT = "%(levelname)s %(message)s"
SINK_FAILED = re.compile(r"^framepipe\.logging: sink .* failed", re.MULTILINE)


def frame_numbers(text: str) -> list[int]:
    """The frame indices of the pipeline's per-frame records (``frame N: ...``) in a log."""
    return [int(n) for n in re.findall(r"^INFO frame (\d+): ", text, re.MULTILINE)]


def assert_counters_add_up(stats: dict[str, Any]) -> None:
    """Every accepted record is written, failed (errors), evicted or still queued."""
    assert stats["accepted"] == (
        stats["written"] + stats["errors"] + stats["evicted"] + stats["queue_size"]
    ), stats


class AtFrames:
    """A processor that runs ``actions[n]`` when it reaches frame ``n`` (counting from 0)."""

    def __init__(self, actions: dict[int, Callable[[], object]]) -> None:
        self.actions = actions
        self.calls = 0

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        action = self.actions.get(self.calls)
        self.calls += 1
        if action is not None:
            action()
        return frame


def file_sink(path: Path | str) -> BatchRotatingFileHandler:
    sink = BatchRotatingFileHandler(str(path), encoding="utf-8")
    sink.setFormatter(logging.Formatter(FORMAT))
    return sink


def paced_run(log: Logger, processor: Callable[[np.ndarray], np.ndarray]) -> PipelineReport:
    """60 frames of a 30 FPS scene at its own pace, every frame logged."""
    return Pipeline(
        "synthetic:64x48@30:2", processor=processor, realtime=True, log_every=1, logger=log
    ).run()


class TestLogSinkFailsMidRun:
    def test_a_deleted_log_directory_is_counted_then_the_file_is_made_again(
        self, tmp_path: Path, capfd: pytest.CaptureFixture[str]
    ) -> None:
        """The log directory is removed at frame 20 and made again at frame 40: the records
        logged meanwhile are counted in errors (not written into the deleted file, where they
        would be lost unseen), stderr says so once, and the file is made again and gets every
        record from then on."""
        logs = tmp_path / "logs"
        logs.mkdir()
        path = logs / "run.log"
        log = configure(handlers=[file_sink(path)])
        processor = AtFrames({
            20: lambda: shutil.rmtree(logs),
            30: lambda: log.flush(5.0),  # the writer tries while the directory is gone
            40: lambda: logs.mkdir(),
        })  # fmt: skip
        report = paced_run(log, processor)
        log.flush(5.0)
        stats = log.get_stats()
        assert_counters_add_up(dict(stats))
        assert stats["errors"] > 0
        numbers = frame_numbers(path.read_text(encoding="utf-8"))
        assert numbers, "nothing was written after the directory came back"
        assert numbers == list(range(numbers[0], 60)), "a record after the recovery is missing"
        assert numbers[0] <= 41
        assert stats["written"] >= len(numbers)
        assert len(SINK_FAILED.findall(capfd.readouterr().err)) == 1
        assert report.frames_processed == 60

    def test_a_read_only_file_system_over_the_log_directory_is_counted_then_left(
        self, tmp_path: Path, capfd: pytest.CaptureFixture[str]
    ) -> None:
        """A read-only tmpfs is mounted over the log directory at frame 20 and unmounted at
        frame 40: writes in between fail (EROFS) and are counted, once on stderr; afterwards
        the file is reopened and written again."""
        logs = tmp_path / "logs"
        logs.mkdir()
        path = logs / "run.log"
        log = configure(handlers=[file_sink(path)])
        with ExitStack() as mounted:
            processor = AtFrames({
                20: lambda: log.flush(5.0) and mounted.enter_context(
                    tmpfs(logs, "64k", read_only=True)
                ),
                30: lambda: log.flush(5.0),
                40: mounted.close,
            })  # fmt: skip
            paced_run(log, processor)
        log.flush(5.0)
        stats = log.get_stats()
        assert_counters_add_up(dict(stats))
        assert stats["errors"] > 0
        numbers = frame_numbers(path.read_text(encoding="utf-8"))
        assert numbers[:20] == list(range(20))  # before the mount, in the same file
        tail = [n for n in numbers if n > 20]
        assert tail == list(range(tail[0], 60)) and tail[0] <= 41
        err = capfd.readouterr().err
        assert len(SINK_FAILED.findall(err)) == 1
        assert "Read-only file system" in err

    def test_a_handler_that_fails_for_a_while_loses_only_what_it_refused(
        self, tmp_path: Path, capfd: pytest.CaptureFixture[str]
    ) -> None:
        """A sink raising OSError for its first 5 batches, then writing: the records of those
        batches are the errors, one stderr message, and everything after them is in the file."""
        path = tmp_path / "run.log"

        class FailsFirst(BatchRotatingFileHandler):
            failures_left = 5

            def write_lines(self, lines: Any) -> None:
                if self.failures_left:
                    self.failures_left -= 1
                    raise OSError(errno.EIO, "Input/output error")
                super().write_lines(lines)

        sink = FailsFirst(str(path), encoding="utf-8")
        sink.setFormatter(logging.Formatter(FORMAT))
        log = configure(handlers=[sink])
        processor = AtFrames({n: lambda: log.flush(5.0) for n in range(1, 6)})  # 5 batches
        report = paced_run(log, processor)
        log.flush(5.0)
        stats = log.get_stats()
        assert_counters_add_up(dict(stats))
        numbers = frame_numbers(path.read_text(encoding="utf-8"))
        assert numbers == list(range(numbers[0], 60))
        assert stats["errors"] >= 5
        assert stats["written"] == len(path.read_text(encoding="utf-8").splitlines())
        assert len(SINK_FAILED.findall(capfd.readouterr().err)) == 1
        assert report.frames_processed == 60


class TestFrameLoopPaceWhileTheSinkFails:
    def test_a_full_disk_under_the_log_does_not_slow_the_frame_loop(
        self, tmp_path: Path, capfd: pytest.CaptureFixture[str]
    ) -> None:
        """Every log write hitting ENOSPC (``/dev/full``) costs the frame loop nothing it can
        see: frame p50 within noise of the same run logging to a healthy file (interleaved,
        best of three each), every record counted in errors, one message on stderr."""

        def run(sink_path: str) -> tuple[float, dict[str, Any]]:
            log = configure(handlers=[file_sink(sink_path)])
            try:
                report = Pipeline(
                    "synthetic:320x240@30:4", processor="edges", log_every=1, logger=log
                ).run()
                log.flush(5.0)
                return report.frame_ms["p50"], dict(log.get_stats())
            finally:
                log.stop()

        healthy: list[float] = []
        full: list[float] = []
        for i in range(3):
            healthy.append(run(str(tmp_path / f"healthy{i}.log"))[0])
            p50, stats = run("/dev/full")
            full.append(p50)
            assert stats["written"] == 0 and stats["errors"] == stats["accepted"] > 120, stats
        assert min(full) <= 1.5 * min(healthy) + 0.1, (full, healthy)
        # One message per logger (three loggers here), not one per record.
        assert len(SINK_FAILED.findall(capfd.readouterr().err)) == 3


def run_kill_child(tmp_path: Path, mode: str, suffix: str, at: int) -> tuple[int, str, str, Path]:
    """Run the child in ``mode``, ending at frame ``at``; a signal mode gets its signal once the
    child says ready."""
    out = tmp_path / f"out{suffix}"
    child = subprocess.Popen(
        child_command("end_while_logging", mode, tmp_path / "logs", out, at),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
    )  # fmt: skip
    try:
        if mode in ("sigterm", "sigint"):
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "ready"
            child.send_signal(signal.SIGTERM if mode == "sigterm" else signal.SIGINT)
        stdout, stderr = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    return child.returncode, stdout, stderr, out


def log_text(log_dir: Path) -> str:
    return "".join(path.read_text(encoding="utf-8") for path in sorted(log_dir.glob("logs_*")))


def logged(log_dir: Path, word: str) -> list[int]:
    """The numbers of the ``word N`` records in every log file, in file order."""
    return [int(n) for n in re.findall(rf": {word} (\d+)$", log_text(log_dir), re.MULTILINE)]


class TestEndingsWhileLoggingHard:
    @pytest.mark.parametrize(("mode", "suffix", "code", "at"), [
        ("sigterm", ".mp4", 0, 30),  # the application's handler stops the pipeline
        ("sigint", ".mp4", -signal.SIGINT, 30),  # KeyboardInterrupt through run(), re-raised
        ("main-exception", ".mp4", 1, 30),  # the processor's exception escapes run()
        ("thread-exception", ".mp4", 0, 30),  # another thread dies; the run goes on to its end
        ("sys-exit", ".mp4", 3, 30),  # sys.exit() inside the processor
        # os._exit() after flush(): nothing is finalised, and FFmpeg writes the video in 256 KiB
        # chunks (about 40 frames of this scene), so the child gets 90 frames in first.
        ("os-exit", ".mkv", 4, 90),
    ])  # fmt: skip
    def test_every_accepted_record_is_in_the_file_and_the_video_plays(
        self, tmp_path: Path, mode: str, suffix: str, code: int, at: int
    ) -> None:
        """3,000 records a second from the processor, then the ending: every numbered record
        accepted is in the log, in order, none twice, and the output plays with the frames
        written before the end."""
        returncode, stdout, stderr, out = run_kill_child(tmp_path, mode, suffix, at)
        assert returncode == code, stderr
        lines = [line for line in stdout.splitlines() if line.startswith("{")]
        seq = logged(tmp_path / "logs", "seq")
        if lines:  # the child could still say what it logged, counted and wrote
            said = json.loads(lines[-1])
            stats = said["stats"]
            assert stats["dropped"] == stats["errors"] == 0, stats
            assert stats["accepted"] == stats["written"], stats
            assert seq == list(range(said["seq"]))
            if said["frames_written"] is not None:  # the run's report: its output's count
                assert said["frames_written"] == said["frames_processed"] == said["frames"], said
                frames = fewest = said["frames_written"]
            else:  # KeyboardInterrupt, anywhere between two steps of a frame (see below)
                fewest, frames = said["frames_processed"], said["frames"]
                assert frames - fewest <= 1, said
        else:  # it ended at frame ``at``, right after that frame's records
            assert seq == list(range(at * 100))
            frames = fewest = at - 1  # the last one never reached the output
        assert len(seq) >= at * 100
        if mode == "main-exception":
            assert "CRITICAL" in log_text(tmp_path / "logs")
            assert "RuntimeError: processor crashed" in log_text(tmp_path / "logs")
        if mode == "thread-exception":
            assert logged(tmp_path / "logs", "bg") == list(range(1000))
            assert re.search(r"CRITICAL .*grabber-3", log_text(tmp_path / "logs"))
        if mode == "os-exit":
            # Matroska frames are in the file as FFmpeg writes them: the file plays, without
            # the last chunk that os._exit() never let it write.
            assert 0 < count_frames(out) <= frames
        else:
            # Every frame the run finished is in the file. A KeyboardInterrupt between the
            # processor's return and the end of that frame's write leaves the frame in flight
            # in the file or not: never more than the processor returned.
            assert fewest <= count_frames(out) <= frames


class TestStopUnderLoad:
    def test_stop_with_eight_threads_logging_flat_out_loses_nothing_it_accepted(
        self, tmp_path: Path
    ) -> None:
        """Eight threads log numbered records as fast as they can for 5 s, then stop() while
        they go on: every call is accepted or counted as dropped, every accepted record was
        written, and the file holds exactly those, each thread's in its own order, none
        twice."""
        path = tmp_path / "run.log"
        log = configure(handlers=[file_sink(path)], queue_size=10_000)
        calls = [0] * 8
        running = threading.Event()
        running.set()
        started = threading.Barrier(9, timeout=30)

        def flat_out(thread: int) -> None:
            started.wait()
            n = 0
            while running.is_set():
                log.info("t%d %d", thread, n)
                n += 1
            calls[thread] = n

        threads = [threading.Thread(target=flat_out, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        started.wait()
        time.sleep(5.0)
        log.stop()  # the threads are still logging
        running.clear()
        for thread in threads:
            thread.join(30)
        stats = log.get_stats()
        assert stats["queue_size"] == 0 and stats["listener_running"] is False
        assert stats["errors"] == stats["evicted"] == 0
        assert stats["accepted"] == stats["written"]
        assert sum(calls) == stats["accepted"] + stats["dropped"]
        found = re.findall(r"^INFO t(\d) (\d+)$", path.read_text(encoding="utf-8"), re.MULTILINE)
        assert len(found) == stats["written"] > 8 * 1_000
        per_thread: dict[int, list[int]] = {i: [] for i in range(8)}
        for thread, n in found:
            per_thread[int(thread)].append(int(n))
        for thread, numbers in per_thread.items():
            assert numbers == sorted(set(numbers)), f"thread {thread}: out of order or twice"
            # None of a thread's calls may have got through (all dropped: a busy machine's
            # writer falls behind eight threads); any that did are numbered below its count.
            assert not numbers or numbers[-1] < calls[thread]
