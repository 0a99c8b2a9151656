"""GET /system-resources: process memory and CPU, the logger's queue, the pipeline's progress."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import psutil
import pytest

from framepipe.logging import configure
from framepipe.monitor import serve
from framepipe.monitor.reading import StreamReading
from framepipe.monitor.resources import ProcessSampler, WorkerSamplers, WorkerUsage
from framepipe.pipeline.live import PipelineSnapshot
from framepipe.pipeline.status import RunStatus
from helpers import child_command, wait_until
from monitor_helpers import SyntheticRun, request, wait_for_json, watched_run

LOGGING_TYPES = {
    "queue_size": int,
    "queue_maxsize": int,
    "log_file": (str, type(None)),
    "listener_running": bool,
    "dropped": int,
    "written": int,
    "high_water": int,
}
PIPELINE_TYPES = {
    "state": str,
    "source": str,
    "frames_read": int,
    "frames_processed": int,
    "frames_dropped": int,
    "fps": float,
    "budget_ms": float,
    "budget_misses": int,
    "frame_ms": dict,
    "frame_age_ms": dict,
    "seconds_since_last_frame": float,
    "reconnects": int,
    "last_results": (dict, type(None)),  # None until a processor returns results
}


def assert_typed(document: dict[str, object], types: Mapping[str, object]) -> None:
    assert set(document) == set(types)
    for key, expected in types.items():
        assert isinstance(document[key], expected), (key, document[key])  # type: ignore[arg-type]


class TestWithoutAPipeline:
    def test_the_document_has_exactly_memory_cpu_and_logging(self, tmp_path: Path) -> None:
        """A logging-only program gets the process and logging parts, with these types."""
        log = configure(log_dir=tmp_path)
        with serve(port=0, logger=log) as server:
            document = request(server, "/system-resources").json()
        assert set(document) == {"memory_mb", "cpu_percent", "logging"}
        assert isinstance(document["memory_mb"], float) and document["memory_mb"] > 10
        assert isinstance(document["cpu_percent"], float) and document["cpu_percent"] >= 0
        assert_typed(document["logging"], LOGGING_TYPES)
        assert document["logging"]["listener_running"] is True
        assert document["logging"]["log_file"] == log.get_stats()["log_file"]

    def test_logging_counters_follow_the_logger(self, tmp_path: Path) -> None:
        """Records logged and flushed show up as written; the capacity is the queue's size."""
        log = configure(log_dir=tmp_path, queue_size=500)
        with serve(port=0, logger=log) as server:
            for i in range(40):
                log.info("record %d", i)
            assert log.flush(timeout=10)
            document = wait_for_json(
                server, "/system-resources", lambda d: d["logging"]["written"] >= 40
            )
        logging_part = document["logging"]
        assert logging_part["queue_maxsize"] == 500
        assert logging_part["high_water"] >= 1
        assert logging_part["dropped"] == 0

    def test_the_default_logger_is_the_process_wide_one(self, tmp_path: Path) -> None:
        """Without ``logger=``, the server reports what the application configured."""
        log = configure(log_dir=tmp_path)
        with serve(port=0) as server:
            logging_part = request(server, "/system-resources").json()["logging"]
        assert logging_part["log_file"] == log.get_stats()["log_file"]

    def test_the_server_never_configures_logging_itself(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Serving and polling creates no log file and starts no writer behind the app's back."""
        monkeypatch.chdir(tmp_path)
        writers = {t for t in threading.enumerate() if t.name == "framepipe-log-writer"}
        with serve(port=0) as server:
            request(server, "/system-resources")
            request(server, "/metrics")
            request(server, "/readyz")
        assert list(tmp_path.iterdir()) == []
        assert {t for t in threading.enumerate() if t.name == "framepipe-log-writer"} <= writers


class TestWithAPipeline:
    def test_the_pipeline_part_has_exactly_its_keys_and_types(self) -> None:
        """Attached, the document gains ``pipeline`` with these keys and types."""
        with watched_run() as (run, server):
            document = request(server, "/system-resources").json()
        assert set(document) == {"memory_mb", "cpu_percent", "logging", "pipeline"}
        pipeline = document["pipeline"]
        assert_typed(pipeline, PIPELINE_TYPES)
        assert set(pipeline["frame_ms"]) == {"p50", "p99"}
        assert set(pipeline["frame_age_ms"]) == {"p50", "p99"}
        assert pipeline["state"] == "running"
        assert pipeline["source"] == run.source.info.name
        assert pipeline["budget_ms"] == pytest.approx(1000 / 30)

    def test_values_move_while_frames_flow(self) -> None:
        """Counters grow, the rate is near the source's, the last frame is recent."""
        with watched_run() as (run, server):
            first = request(server, "/system-resources").json()["pipeline"]
            run.wait_for_frames(first["frames_processed"] + 30)
            # The server reads the run ten times a second: on a busy machine, a moment later.
            second = wait_for_json(
                server,
                "/system-resources",
                lambda d: d["pipeline"]["frames_processed"] >= first["frames_processed"] + 30,
            )["pipeline"]
        assert second["frames_processed"] > first["frames_processed"]
        assert second["frames_read"] >= second["frames_processed"]
        assert second["fps"] > 5
        assert second["frame_ms"]["p99"] >= second["frame_ms"]["p50"] > 0
        assert second["seconds_since_last_frame"] < 5


STREAM_TYPES: dict[str, object] = {
    **PIPELINE_TYPES,
    "stream": str,
    "pid": (int, type(None)),
    "node": (str, type(None)),
    "restart_count": (int, type(None)),  # None: no supervisor restarts the stream
    "memory_mb": (float, type(None)),
    "cpu_percent": (float, type(None)),
}


@pytest.fixture
def worker() -> Iterator[subprocess.Popen[bytes]]:
    """A real child process standing in for a stream's worker; never outlives the test."""
    child = subprocess.Popen(child_command("ready_then_wait"), stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None
        child.stdout.readline()  # running Python: measured now, it has its own memory
        yield child
    finally:
        child.kill()
        child.wait(10)


class InWorker:
    """A stream whose frames are counted here but whose ``pid`` is another process's."""

    def __init__(self, run: SyntheticRun, pid: int) -> None:
        self.run, self.pid = run, pid

    def snapshot(self) -> PipelineSnapshot:
        return self.run.snapshot()


def _two_streams_moving(document: dict[str, object]) -> bool:
    streams = document.get("streams")
    return isinstance(streams, list) and all(s["frames_processed"] > 0 for s in streams)


class TestWithSeveralStreams:
    def test_each_stream_has_an_entry_with_its_progress_and_its_process(
        self, worker: subprocess.Popen[bytes]
    ) -> None:
        """Two streams: a ``streams`` list in order, these keys and types, counters that move,
        and memory read from each stream's own process (null where it names none)."""
        with (
            SyntheticRun() as left,
            SyntheticRun() as right,
            serve(port=0, streams={"left": InWorker(left, worker.pid), "right": right}) as server,
        ):
            first = wait_for_json(server, "/system-resources", _two_streams_moving)
            left.wait_for_frames(first["streams"][0]["frames_processed"] + 15)
            right.wait_for_frames(first["streams"][1]["frames_processed"] + 15)
            second = wait_for_json(
                server, "/system-resources",
                lambda d: all(
                    s["frames_processed"] > f["frames_processed"]
                    for s, f in zip(d["streams"], first["streams"], strict=True)
                ),
            )  # fmt: skip
        entries = second["streams"]
        assert [entry["stream"] for entry in entries] == ["left", "right"]
        for entry in entries:
            assert_typed(entry, STREAM_TYPES)
            assert entry["state"] == "running" and entry["node"] is None
            assert entry["restart_count"] is None
        left_entry, right_entry = entries
        assert left_entry["pid"] == worker.pid
        assert 1 < left_entry["memory_mb"] < second["memory_mb"]  # a bare interpreter's, not ours
        assert left_entry["cpu_percent"] >= 0
        assert right_entry["pid"] is None
        assert right_entry["memory_mb"] is None and right_entry["cpu_percent"] is None
        assert second["pipeline"]["source"] == left_entry["source"]  # kept for one-stream clients

    def test_one_stream_given_as_streams_has_the_single_pipeline_document(self) -> None:
        """``streams=`` with one stream answers exactly as ``pipeline=`` does: no list."""
        with SyntheticRun() as run, serve(port=0, streams={"door": run}) as server:
            run.wait_for_frames(3)
            document = wait_for_json(server, "/system-resources", lambda d: "pipeline" in d)
        assert set(document) == {"memory_mb", "cpu_percent", "logging", "pipeline"}

    def test_pipeline_and_streams_together_are_refused(self) -> None:
        """Both ``pipeline=`` and ``streams=``: a ValueError before any process starts."""
        with SyntheticRun() as run, pytest.raises(ValueError, match="not both"):
            serve(port=0, pipeline=run, streams={"a": run})


def _state(pid: int | None, node: str | None = None) -> StreamReading:
    return StreamReading(RunStatus("synthetic", 33.3).snapshot(0.0), node=node, pid=pid)


class TestWorkerSamplers:
    def test_a_busy_worker_reads_busy_from_its_first_sample(self) -> None:
        """Before a first interval has passed, CPU is the average since the process started,
        not 0.0 for a worker spinning from its first instant."""
        busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        try:
            wait_until(
                lambda: psutil.Process(busy.pid).cpu_times().user > 0.3,
                lambda: "the busy process to use some CPU",
            )
            _, cpu = WorkerSamplers().sample(_state(busy.pid))
        finally:
            busy.kill()
            busy.wait(10)
        assert cpu is not None and cpu > 5

    def test_a_worker_that_ended_reads_as_null(self, worker: subprocess.Popen[bytes]) -> None:
        """A live pid has memory; once that process is gone the next measurement is null."""
        now = [0.0]
        samplers = WorkerSamplers(min_interval_s=0.5, clock=lambda: now[0])
        memory_mb, cpu = samplers.sample(_state(worker.pid))
        assert memory_mb is not None and memory_mb > 1 and cpu is not None and cpu >= 0
        worker.kill()
        worker.wait(10)
        now[0] = 1.0
        assert samplers.sample(_state(worker.pid)) == (None, None)

    def test_a_worker_that_ended_unreaped_reads_as_gone_not_as_zero_bytes(self) -> None:
        """A worker that has exited but is not reaped yet (a zombie) has no memory to tell:
        both readers say nothing, never a process of 0 bytes."""
        script = "import sys; print('ready', flush=True); sys.stdin.read()"
        child = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE)  # fmt: skip
        try:
            assert child.stdout is not None and child.stdout.readline() == b"ready\n"
            samplers, usage = WorkerSamplers(min_interval_s=0.0), WorkerUsage()
            assert (samplers.sample(_state(child.pid))[0] or 0) > 1
            reading = usage.usage(_state(child.pid))
            assert reading is not None and reading.rss_bytes > 2**20
            assert child.stdin is not None
            child.stdin.close()  # it ends; nobody reaps it yet
            wait_until(
                lambda: psutil.Process(child.pid).status() == psutil.STATUS_ZOMBIE,
                "the child to end, unreaped",
            )
            assert samplers.sample(_state(child.pid)) == (None, None)
            assert usage.usage(_state(child.pid)) is None
        finally:
            child.kill()
            child.wait(10)
            assert child.stdout is not None
            child.stdout.close()

    def test_a_stream_on_another_machine_is_not_measured_here(self) -> None:
        """A pid on another node is not this machine's process of that number."""
        samplers = WorkerSamplers(host="here")
        assert samplers.sample(_state(os.getpid(), node="elsewhere")) == (None, None)
        assert samplers.sample(_state(os.getpid(), node="here"))[0] is not None

    def test_a_stream_without_a_process_is_null(self) -> None:
        """No pid (a stream in this process, or a worker between restarts): nothing to read."""
        assert WorkerSamplers().sample(_state(None)) == (None, None)


class TestProcessSampler:
    def test_cpu_is_measured_over_the_time_between_samples(self) -> None:
        """Busy work between two samples reads as CPU use; a quick re-read reuses the value."""
        now = [0.0]
        sampler = ProcessSampler(min_interval_s=0.5, clock=lambda: now[0])
        end = time.process_time() + 0.3
        while time.process_time() < end:
            pass
        now[0] = 1.0
        memory_mb, cpu = sampler.sample()
        assert cpu > 0
        assert memory_mb > 10
        now[0] = 1.1
        assert sampler.sample() == (memory_mb, cpu)  # within min_interval_s: no new measurement

    def test_memory_is_the_resident_size_the_kernel_reports(self) -> None:
        """memory_mb matches VmRSS from /proc/self/status to within a few MB."""
        status = Path("/proc/self/status")
        if not status.exists():
            pytest.skip("no /proc on this system")
        memory_mb, _ = ProcessSampler().sample()
        rss_kb = next(
            int(line.split()[1])
            for line in status.read_text().splitlines()
            if line.startswith("VmRSS:")
        )
        assert memory_mb == pytest.approx(rss_kb / 1024, abs=5)


class TestCameraSettings:
    def test_a_run_asked_for_camera_settings_shows_what_was_asked_and_delivered(self) -> None:
        """A real pipeline on the scene asked like a camera: ``camera`` in its part, only
        there (a run that asked nothing has no such key, as above)."""
        from framepipe._camera import CameraSettings
        from framepipe.pipeline import Pipeline

        camera = CameraSettings((32, 24), 15.0, "MJPG")
        pipeline = Pipeline("synthetic:64x48@30:20", camera=camera, realtime=True, processor=None)
        runner = threading.Thread(target=pipeline.run, daemon=True)
        with serve(port=0, pipeline=pipeline) as server:
            runner.start()
            try:
                document = wait_for_json(
                    server, "/system-resources", lambda doc: "camera" in doc["pipeline"]
                )
            finally:
                pipeline.stop()
                runner.join(10)
        assert document["pipeline"]["camera"] == {
            "requested": {"size": "32x24", "fps": 15.0, "fourcc": "MJPG"},
            "delivered": {"size": "32x24", "fps": 15.0, "fourcc": None},
            "not_honoured": ["fourcc"],
        }
        assert not runner.is_alive()
