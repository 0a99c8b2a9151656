"""Tests for framepipe.streams._worker: signals a worker gets, a parent that dies, and
processors that raise what ``except Exception`` does not catch."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

import faulty_processors
from framepipe import PipelineConfig
from framepipe.streams import run_streams, start_streams
from framepipe.streams._messages import Finished, WorkerMessage
from framepipe.streams._worker import Stopper, run_stream
from framepipe.streams.job import StreamJob
from helpers import child_command, process_ended, wait_for_frames, wait_until

PACED = "synthetic:64x48@30:30"  # with realtime=True: 30 s unless stopped

pytestmark = pytest.mark.usefixtures("logs_in_tmp")


class TestSignals:
    def test_sigterm_to_a_worker_is_a_clean_stop(self) -> None:
        """SIGTERM sent to a worker alone ends its stream cleanly, with its summary."""
        with start_streams([PACED], config=PipelineConfig(realtime=True)) as handle:
            wait_for_frames(handle, 3)
            pid = handle.streams["synthetic"].pid
            assert pid is not None
            os.kill(pid, signal.SIGTERM)
            report = handle.wait(20.0)
        assert report is not None
        (stream,) = report.streams
        assert stream.ok and stream.ended == "stopped" and stream.exit == 0
        assert stream.summary.frames_processed >= 3

    def test_ctrl_c_and_a_closed_terminal_are_left_to_the_parent(self) -> None:
        """SIGINT and SIGHUP (which a terminal sends the whole group) do not end a worker."""
        with start_streams([PACED], config=PipelineConfig(realtime=True)) as handle:
            wait_for_frames(handle, 3)
            pid = handle.streams["synthetic"].pid
            assert pid is not None
            os.kill(pid, signal.SIGINT)
            os.kill(pid, signal.SIGHUP)
            before = handle.streams["synthetic"].snapshot().frames_processed
            time.sleep(1.5)
            assert handle.streams["synthetic"].snapshot().frames_processed > before
            assert not process_ended(pid)
            handle.stop()
            report = handle.wait(20.0)
        assert report is not None and report.ok


class Sent:
    """A worker's channel that keeps what was sent."""

    def __init__(self) -> None:
        self.messages: list[WorkerMessage] = []

    def send(self, message: WorkerMessage) -> bool:
        self.messages.append(message)
        return True


class TestStops:
    def test_a_stop_before_the_pipeline_runs_processes_no_frame(self) -> None:
        """A stop that comes while the worker starts (before its pipeline runs) is kept: the
        run ends 'stopped' at once, cleanly, with no frame processed."""
        job = StreamJob("scene", PACED, None, PipelineConfig(), cv_threads=1)
        stopper = Stopper()
        stopper.stop()
        sent = Sent()
        assert run_stream(job, sent, stopper) == 0  # type: ignore[arg-type]
        finished = sent.messages[-1]
        assert isinstance(finished, Finished) and finished.summary is not None
        assert finished.end_reason == "stopped" and finished.error is None
        assert finished.summary.frames_processed == 0


class TestBaseExceptions:
    @pytest.mark.parametrize(
        ("processor", "cause"),
        [
            ("exits", "SystemExit: 3"),  # sys.exit(3) in a library
            ("interrupts", "KeyboardInterrupt"),  # the processor's own, not Ctrl-C
            ("raises_base_exception", "BaseException: out of band"),
        ],
    )
    def test_the_stream_s_error_is_the_real_cause(self, processor: str, cause: str) -> None:
        """The stream fails with what was raised and how far it got, not as a worker that
        never started."""
        report = run_streams(
            ["synthetic:64x48@30:30"], processor=f"faulty_processors:{processor}"
        )
        (stream,) = report.streams
        frames = faulty_processors.FRAMES_BEFORE_FAULT
        assert stream.error == f"{cause} after {frames} processed frames"
        assert stream.ended == "error" and stream.exit == 1
        assert stream.summary.frames_processed == frames

    def test_finished_carries_the_report_of_what_was_processed(self) -> None:
        """The worker's last message has the run's report, though the run never returned one."""
        faulty_processors.frames_seen.clear()
        job = StreamJob(
            "scene", "synthetic:64x48@30:30", ("faulty_processors:exits",), PipelineConfig(),
            cv_threads=1,
        )
        sent = Sent()
        assert run_stream(job, sent, Stopper()) == 1  # type: ignore[arg-type]
        finished = sent.messages[-1]
        assert isinstance(finished, Finished) and finished.summary is not None
        assert finished.error == "SystemExit: 3 after 5 processed frames"
        assert finished.end_reason == "error"
        assert finished.summary.frames_processed == faulty_processors.FRAMES_BEFORE_FAULT
        assert finished.summary.processor == "faulty_processors:exits"


def test_a_worker_stops_when_its_parent_dies() -> None:
    """The parent killed with SIGKILL (no cleanup at all): its worker ends by itself."""
    parent = subprocess.Popen(
        child_command("start_then_wait", PACED), stdout=subprocess.PIPE, text=True
    )
    try:
        assert parent.stdout is not None
        line = parent.stdout.readline()
        assert line.strip().isdigit(), f"the parent printed no worker pid: {line!r}"
        worker = int(line)
        assert not process_ended(worker)
        parent.kill()
        parent.wait(10)
        wait_until(lambda: process_ended(worker), "the orphaned worker to end", timeout=15.0)
    finally:
        parent.kill()
        parent.wait(10)
