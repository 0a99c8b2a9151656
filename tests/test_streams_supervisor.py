"""Tests for framepipe.streams._supervisor: workers that die, restarts, and stops that hang."""

from __future__ import annotations

import logging
import os
import re
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from faulty_processors import STUCK_MARKER_ENV
from framepipe import PipelineConfig
from framepipe.pipeline.report import SUMMARY_KEYS
from framepipe.streams import StreamsHandle, run_streams, start_streams
from framepipe.streams import _supervisor as supervisor_module
from framepipe.streams._messages import Started, WorkerMessage
from framepipe.streams._supervisor import Supervisor, describe_exit
from framepipe.streams.engine import WorkerHandle
from framepipe.streams.job import StreamJob
from helpers import wait_for_frames, wait_until
from streams import StreamServer

PACED = "synthetic:64x48@30:30"  # with realtime=True: 30 s unless stopped
REALTIME = PipelineConfig(realtime=True)
WAIT_S = 20.0  # workers start in fresh interpreters

pytestmark = pytest.mark.usefixtures("logs_in_tmp")


def frames(handle: StreamsHandle, name: str) -> int:
    return handle.streams[name].snapshot().frames_processed


class TestDeadWorkers:
    def test_a_killed_worker_is_reported_and_the_others_are_unaffected(self) -> None:
        """SIGKILL mid-run: that stream ends 'crashed' with -9 and its last counts; the other
        stream goes on to its own end in the same process."""
        sources = [PACED, "synthetic:64x48@30:2"]
        with start_streams(sources, config=REALTIME, names=["victim", "bystander"]) as handle:
            wait_until(
                lambda: frames(handle, "victim") >= 5, "frames on the victim", timeout=WAIT_S
            )
            bystander_pid = handle.streams["bystander"].pid
            victim_pid = handle.streams["victim"].pid
            assert victim_pid is not None
            os.kill(victim_pid, signal.SIGKILL)
            report = handle.wait(30.0)
        assert report is not None
        victim, bystander = report.streams
        assert victim.exit == -signal.SIGKILL and victim.ended == "crashed"
        assert victim.error == "killed by SIGKILL (kill -9, or out of memory)"
        assert victim.summary.frames_processed >= 5  # from its last snapshot
        assert set(victim.to_dict()) >= set(SUMMARY_KEYS) and victim.restarts == ()
        assert bystander.ok and bystander.pid == bystander_pid
        assert bystander.summary.frames_processed == 60
        assert report.total["failed"] == 1

    def test_a_killed_live_stream_is_restarted_with_a_new_worker(self) -> None:
        """A camera or stream gets restart attempts: the killed worker is reported in
        ``restarts`` and a new one reads the stream again; the other stream keeps its worker."""
        with (
            StreamServer() as server,
            start_streams([server.url, PACED], config=REALTIME, names=["live", "scene"]) as handle,
        ):
            wait_until(
                lambda: frames(handle, "live") >= 5, "frames from the live stream", timeout=WAIT_S
            )
            scene_pid, live_pid = handle.streams["scene"].pid, handle.streams["live"].pid
            assert live_pid is not None
            os.kill(live_pid, signal.SIGKILL)
            at_kill = frames(handle, "live")  # counts go on from here in the next worker
            server.start()  # the stream's one client is gone: serve the next one
            wait_until(
                lambda: (
                    handle.streams["live"].pid not in (None, live_pid)
                    and frames(handle, "live") >= at_kill + 5
                ),
                "a restarted live worker with frames",
                timeout=40.0,
            )
            assert handle.streams["scene"].pid == scene_pid
            handle.stop()
            report = handle.wait(30.0)
        assert report is not None
        live, scene = report.streams
        assert live.restarts[0].pid == live_pid and live.restarts[0].exit == -signal.SIGKILL
        assert live.restarts[0].error is not None and "SIGKILL" in live.restarts[0].error
        assert live.ok and live.ended == "stopped" and live.pid != live_pid
        assert scene.ok and scene.restarts == () and scene.pid == scene_pid
        assert live.to_dict()["restarts"][0]["exit"] == -signal.SIGKILL

    def test_a_worker_that_segfaults_is_reported_with_its_signal(self) -> None:
        """A crash in native code kills a worker, not the supervisor: each stream says SIGSEGV."""
        report = run_streams(
            ["synthetic:64x48@30:1", "synthetic:64x48@30:1"],
            processor="faulty_processors:segfault",
            names=["crash", "crash-too"],
        )
        for stream in report.streams:
            assert stream.exit == -signal.SIGSEGV and stream.ended == "crashed"
            assert stream.error == "killed by SIGSEGV (segmentation fault)"


class TestStopping:
    def test_a_worker_that_does_not_stop_in_time_is_killed_and_says_so(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A frame that never finishes: after the stop timeout the worker is killed, reported."""
        marker = tmp_path / "stuck"
        monkeypatch.setenv(STUCK_MARKER_ENV, str(marker))  # the spawned worker inherits it
        handle = start_streams(
            [PACED], processor="faulty_processors:stuck", config=REALTIME, stop_timeout_s=1.0
        )
        with handle:
            # The stop must reach a worker inside its minute-long frame, not one still starting.
            wait_until(marker.exists, "the worker inside its stuck frame", timeout=WAIT_S)
            pid = handle.streams["synthetic"].pid
            handle.stop()
            report = handle.wait(15.0)
        assert report is not None
        (stream,) = report.streams
        assert stream.error == "did not stop within 1 s, killed"
        assert stream.exit == -signal.SIGKILL
        assert pid is not None and not psutil.pid_exists(pid)


class TestStoppingWhileStarting:
    """A worker asked to stop before it said a word hears the stop once it runs: the stop
    timeout counts from then, and it has ``START_WAIT_S`` to start."""

    def test_a_worker_slow_to_start_still_stops_cleanly(
        self, held_start: _HeldStart, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.INFO, logger="test.held")
        handle = start_streams(
            [PACED], config=REALTIME, stop_timeout_s=1.0, logger=logging.getLogger("test.held")
        )
        with handle:
            wait_until(held_start.waiting.exists, "the worker held as it starts", timeout=WAIT_S)
            handle.stop()
            time.sleep(3.0)  # three stop timeouts pass while the worker cannot hear the stop
            assert handle.streams["synthetic"].snapshot().state != "ended"
            held_start.release()
            report = handle.wait(WAIT_S)
        assert report is not None
        (stream,) = report.streams
        assert stream.error is None and stream.exit == 0, stream.error
        assert (
            "stream synthetic: its worker is still starting; it stops once started (killed if "
            "not started within 60 s)"
        ) in [record.getMessage() for record in caplog.records]

    def test_a_worker_that_never_starts_is_killed_after_the_start_wait(
        self, held_start: _HeldStart, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(supervisor_module, "START_WAIT_S", 2.0)
        handle = start_streams([PACED], config=REALTIME, stop_timeout_s=1.0)
        with handle:
            wait_until(held_start.waiting.exists, "the worker held as it starts", timeout=WAIT_S)
            pid = handle.streams["synthetic"].pid
            handle.stop()
            report = handle.wait(WAIT_S)
        assert report is not None
        (stream,) = report.streams
        assert stream.error == "did not start within 2 s of the stop, killed"
        assert stream.exit == -signal.SIGKILL
        assert pid is not None and not psutil.pid_exists(pid)


@dataclass
class _HeldStart:
    """Worker interpreters wait at start-up (before any of framepipe runs) while ``hold``
    exists, having created ``waiting``."""

    hold: Path
    waiting: Path

    def release(self) -> None:
        self.hold.unlink()


@pytest.fixture
def held_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[_HeldStart]:
    """Every Python started from here on (a spawned worker) is held as it starts: a
    ``sitecustomize`` on ``PYTHONPATH`` waits while the hold file exists."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(_HOLD_AT_START)
    held = _HeldStart(tmp_path / "hold", tmp_path / "waiting")
    held.hold.touch()
    path = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    monkeypatch.setenv("PYTHONPATH", path)
    monkeypatch.setenv("FRAMEPIPE_TEST_HOLD", str(held.hold))
    monkeypatch.setenv("FRAMEPIPE_TEST_WAITING", str(held.waiting))
    try:
        yield held
    finally:
        held.hold.unlink(missing_ok=True)


_HOLD_AT_START = """\
import os, time
hold, waiting = os.environ.get("FRAMEPIPE_TEST_HOLD"), os.environ.get("FRAMEPIPE_TEST_WAITING")
if hold and waiting:
    open(waiting, "a").close()
    while os.path.exists(hold):
        time.sleep(0.01)
"""


def _http(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _metric(text: str, name: str, stream: str) -> float:
    match = re.search(rf'^{name}{{stream="{stream}"}} (\S+)$', text, re.MULTILINE)
    assert match is not None, f"no {name} for {stream}"
    return float(match.group(1))


class TestRestartedCounts:
    def test_a_restarted_streams_counters_never_go_down_anywhere(self) -> None:
        """A worker SIGKILLed and restarted: its counters in the snapshot and in /metrics go on
        from where they were, while it waits to restart it is down (source_up 0, /readyz 503
        naming it), and its summary JSON and its table row count every attempt."""
        from framepipe.monitor import serve

        with (
            start_streams([PACED, PACED], config=REALTIME, names=["cam", "other"],
                          restart_attempts=1) as handle,
            serve(0, streams=handle.streams) as server,
        ):  # fmt: skip
            wait_until(lambda: frames(handle, "cam") >= 10, "frames on cam", timeout=WAIT_S)
            pid = handle.streams["cam"].pid
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            at_kill = frames(handle, "cam")
            seen: list[tuple[float, float, int, str]] = []  # counts, up, /readyz, its reasons

            def restarted_with_frames() -> bool:
                metrics = _http(server.url + "metrics")[1]
                ready = _http(server.url + "readyz")
                seen.append((
                    _metric(metrics, "framepipe_frames_processed_total", "cam"),
                    _metric(metrics, "framepipe_source_up", "cam"),
                    *ready,
                ))  # fmt: skip
                # Until the restarted worker's own counts (a second of frames) show in /metrics.
                return handle.streams["cam"].pid not in (None, pid) and seen[-1][0] >= at_kill + 30

            wait_until(restarted_with_frames, "cam restarted with frames", timeout=40.0,
                       interval=0.01)  # fmt: skip
            handle.stop()
            report = handle.wait(30.0)
        counts = [count for count, *_ in seen]
        assert counts == sorted(counts), counts
        assert any(up == 0.0 and code == 503 and "cam:" in reasons
                   for _, up, code, reasons in seen), seen  # fmt: skip
        assert report is not None
        cam = report.streams[0]
        assert cam.restarts[0].pid == pid
        entry = cam.to_dict()
        assert entry["frames_processed"] >= counts[-1]
        assert entry["frames_processed"] == report.total["frames_processed"] - (
            report.streams[1].summary.frames_processed
        )
        row = next(line for line in report.to_text().splitlines() if line.startswith("cam "))
        assert row.split()[4] == str(entry["frames_processed"])
        assert entry["frames_read"] >= entry["frames_processed"]


class DiedElsewhere:
    """A worker handle of an engine that runs streams on another machine: it died there, and
    the engine knows why better than an exit code can say."""

    pid = 41
    node = "node-7"
    death = "the actor died: its node was lost"

    def __init__(self) -> None:
        self._unread: list[WorkerMessage] = [Started(41)]

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


class OneDeath:
    """An engine whose every worker dies at once, elsewhere."""

    name = "elsewhere"

    def start(self, job: StreamJob) -> WorkerHandle:
        return DiedElsewhere()

    def wait(self, workers: Sequence[WorkerHandle], timeout: float) -> None:
        pass


class TestWhatAnEngineTells:
    def test_the_node_and_the_death_an_engine_declares_are_the_result_s(self) -> None:
        """WorkerHandle declares ``node`` and ``death``: the report names where the stream ran
        and gives the engine's reason, not a bare exit code."""
        job = StreamJob("door", "synthetic:32x32@30:1", None, PipelineConfig(), cv_threads=1)
        assert isinstance(DiedElsewhere(), WorkerHandle)
        supervisor = Supervisor([job], OneDeath(), [0], logger=logging.getLogger("test"))
        (result,) = supervisor.run().streams
        assert result.node == "node-7" and result.pid == 41
        assert result.error == "the actor died: its node was lost"
        assert result.ended == "crashed" and result.summary.frames_processed == 0


@pytest.mark.parametrize(
    ("code", "text"),
    [
        (-9, "killed by SIGKILL (kill -9, or out of memory)"),
        (-11, "killed by SIGSEGV (segmentation fault)"),
        (-15, "killed by SIGTERM"),
        (3, "exited with code 3 without a summary"),
        (None, "the worker did not start"),
    ],
)
def test_a_worker_exit_is_described_in_words(code: int | None, text: str) -> None:
    """The signal by name, with the usual cause of the common ones."""
    assert describe_exit(code) == text


class TestHungWorkers:
    def test_a_processor_that_never_returns_is_killed_as_hung_and_restarted(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A frame loop stuck in its processor: after the hang timeout the worker is killed,
        reported as hung on its frame, and restarted under the restart policy."""
        monkeypatch.setenv(STUCK_MARKER_ENV, str(tmp_path / "stuck"))
        report = run_streams(
            [PACED], processor="faulty_processors:stuck", config=REALTIME, restart_attempts=1,
            hang_timeout_s=3.0,
        )  # fmt: skip
        (stream,) = report.streams
        assert [attempt.error for attempt in stream.restarts] == [
            "hung on frame 0: no progress for 3 s"
        ]
        assert stream.error == "hung on frame 0: no progress for 3 s"
        assert stream.exit == -signal.SIGKILL and stream.pid != stream.restarts[0].pid

    def test_a_stopped_worker_is_hung_and_a_reconnecting_one_is_not(self) -> None:
        """SIGSTOP on one worker: it sends nothing more, is killed as hung and restarted; a live
        stream whose server is gone reconnects for longer than the timeout and is left alone."""
        with (
            StreamServer() as server,
            start_streams([PACED, server.url], config=REALTIME, names=["frozen", "live"],
                          restart_attempts=1, hang_timeout_s=3.0) as handle,
        ):  # fmt: skip
            wait_for_frames(handle, 5, timeout=WAIT_S)
            frozen, live = handle.streams["frozen"].pid, handle.streams["live"].pid
            assert frozen is not None
            server.kill()  # the live stream drops and reconnects from now on
            os.kill(frozen, signal.SIGSTOP)
            at_stop = frames(handle, "frozen")
            wait_until(lambda: handle.streams["frozen"].pid not in (None, frozen),
                       "the frozen worker replaced", timeout=WAIT_S)  # fmt: skip
            wait_until(lambda: frames(handle, "frozen") > at_stop, "the new worker's frames",
                       timeout=WAIT_S)  # fmt: skip
            assert handle.streams["live"].snapshot().state == "reconnecting"
            assert handle.streams["live"].pid == live
            handle.stop()
            report = handle.wait(30.0)
        assert report is not None
        restarted, reconnecting = report.streams
        assert restarted.restarts[0].pid == frozen
        error = restarted.restarts[0].error
        assert error is not None and error.startswith("hung on frame ")
        assert restarted.ok and reconnecting.restarts == () and reconnecting.pid == live
