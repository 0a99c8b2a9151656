"""Tests for framepipe.streams.api: run_streams and start_streams with real worker processes."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from framepipe import PipelineConfig
from framepipe.pipeline.report import SUMMARY_KEYS
from framepipe.pipeline.sources import SourceError
from framepipe.streams import run_streams, start_streams, stream_output
from framepipe.streams.api import default_cv_threads
from helpers import child_command, wait_for_frames, wait_until
from video_files import count_frames, write_video

SHORT = "synthetic:64x48@30:1"  # 30 frames, as fast as they render
PACED = "synthetic:64x48@30:30"  # with realtime=True: 30 s unless stopped

pytestmark = pytest.mark.usefixtures("logs_in_tmp")


class TestRunStreams:
    def test_every_stream_has_its_summary_and_the_total_adds_them_up(self, tmp_path: Path) -> None:
        """Two scenes and a file: one summary each under its name, the total their sum."""
        clip = write_video(tmp_path / "door.avi", frames=12)
        report = run_streams([SHORT, SHORT, str(clip)], processor="edges")
        document = report.to_dict()
        names = [entry["stream"] for entry in document["streams"]]
        assert names == ["synthetic", "synthetic-2", "door"]
        assert [entry["frames_processed"] for entry in document["streams"]] == [30, 30, 12]
        for entry in document["streams"]:
            assert set(SUMMARY_KEYS) | {"stream", "pid", "exit"} <= set(entry)
            assert entry["exit"] == 0 and entry["error"] is None and entry["ended"] == "end"
            assert entry["processor"] == "edges"
        assert len({entry["pid"] for entry in document["streams"]}) == 3
        total = document["total"]
        assert total["frames_processed"] == 72
        assert total["fps"] == pytest.approx(sum(e["fps"] for e in document["streams"]), abs=0.02)
        assert total["budget_misses"] == sum(e["budget_misses"] for e in document["streams"])
        assert total["duration_s"] > 0 and report.ok

    def test_workers_log_through_the_applications_own_logger(self, tmp_path: Path) -> None:
        """framepipe.logging configured here: every worker's records land in that one file,
        each line naming its stream and process."""
        from framepipe.logging import configure

        log = configure(log_dir=tmp_path / "app")
        report = run_streams([SHORT, SHORT], config=PipelineConfig(log_every=10), names=["a", "b"])
        log.flush()
        (only,) = (tmp_path / "app").iterdir()
        lines = only.read_text().splitlines()
        for stream in report.streams:
            tag = f"[{stream.stream} {stream.pid} #"
            frames = [line for line in lines if tag in line and " frame " in line]
            assert [line.split(" frame ")[1].split(":")[0] for line in frames] == ["0", "10", "20"]

    def test_a_failing_stream_is_reported_and_the_others_run_on(self, tmp_path: Path) -> None:
        """A file that is not a video fails its stream (exit 1, the reason); the other ends."""
        junk = tmp_path / "junk.mp4"
        junk.write_bytes(b"not a video" * 100)
        report = run_streams([str(junk), SHORT])
        failed, ok = report.streams
        assert failed.exit == 1 and failed.error is not None and "junk.mp4" in failed.error
        assert ok.ok and ok.summary.frames_processed == 30
        assert not report.ok and report.total["failed"] == 1

    def test_fail_fast_stops_the_other_streams(self, tmp_path: Path) -> None:
        """With fail_fast, one failed stream ends the run: the others stop cleanly."""
        junk = tmp_path / "junk.avi"
        junk.write_bytes(b"\0" * 1000)
        config = PipelineConfig(realtime=True)
        started = time.monotonic()
        report = run_streams([str(junk), PACED], config=config, fail_fast=True)
        assert time.monotonic() - started < 25  # not the 30 s the scene lasts
        failed, stopped = report.streams
        assert failed.exit == 1
        assert stopped.exit == 0 and stopped.ended == "stopped"

    def test_workers_can_be_started_by_a_forkserver(self) -> None:
        """LocalEngine("forkserver"): the same run, workers forked from a clean server process."""
        from framepipe.streams import LocalEngine

        report = run_streams([SHORT, SHORT], engine=LocalEngine("forkserver"))
        assert report.ok and report.total["frames_processed"] == 60

    def test_each_stream_writes_its_own_output(self, tmp_path: Path) -> None:
        """--output for several streams: the stream's name goes before the extension."""
        config = PipelineConfig(output=str(tmp_path / "out.avi"))
        report = run_streams([SHORT, SHORT], config=config, names=["a", "b"])
        assert report.ok
        assert count_frames(tmp_path / "out-a.avi") == 30
        assert count_frames(tmp_path / "out-b.avi") == 30


class TestStartStreams:
    def test_the_handle_shows_each_stream_and_stop_ends_them_cleanly(self) -> None:
        """snapshot() per stream while frames flow, without frames; stop() ends every worker."""
        config = PipelineConfig(realtime=True)
        with start_streams([PACED, PACED], config=config, names=["left", "right"]) as handle:
            wait_for_frames(handle, 3)
            snapshots = handle.snapshot()
            assert set(snapshots) == {"left", "right"}
            assert all(s.state == "running" and s.latest_frame is None for s in snapshots.values())
            pids = [handle.streams[name].pid for name in handle.names]
            assert all(pid is not None and psutil.pid_exists(pid) for pid in pids)
            handle.stop()
            report = handle.wait(20.0)
        assert report is not None
        assert [s.ended for s in report.streams] == ["stopped", "stopped"]
        assert [s.exit for s in report.streams] == [0, 0] and report.ok
        assert not any(psutil.pid_exists(pid) for pid in pids if pid is not None)
        assert all(s.state == "ended" for s in handle.snapshot().values())

    def test_leaving_the_block_stops_the_streams(self) -> None:
        """An exception in the with block still stops and reaps every worker."""
        pids: list[int | None] = []
        handle = start_streams([PACED], config=PipelineConfig(realtime=True))

        def fail_inside() -> None:
            with handle:
                wait_for_frames(handle, 1)
                pids.extend(view.pid for view in handle.streams.values())
                raise KeyError("the caller's own error")

        with pytest.raises(KeyError):
            fail_inside()
        assert handle.done
        assert not any(psutil.pid_exists(pid) for pid in pids if pid is not None)


class TestWatched:
    def test_a_stats_server_shows_every_stream_of_the_handle(self) -> None:
        """handle.streams is what framepipe.monitor watches: /metrics has a series per stream
        (the stream label), and /readyz names a stream that stops delivering."""
        from framepipe.monitor import StatsServer
        from framepipe.monitor.providers import Monitored
        from monitor_helpers import Response, request

        config = PipelineConfig(realtime=True)
        with start_streams([PACED, "synthetic:64x48@30:1"], config=config) as handle:
            monitored = Monitored(streams=handle.streams)  # snapshots come once a second
            with StatsServer(monitored, "127.0.0.1", 0) as server:
                wait_for_frames(handle, 3)

                def naming_the_second_stream() -> Response | None:
                    reply = request(server, "/readyz")
                    return reply if b"synthetic-2: " in reply.body else None

                ready = wait_until(
                    naming_the_second_stream, "/readyz to name synthetic-2", timeout=20.0
                )
                assert ready.status == 503 and "synthetic:" not in ready.body.decode()
                metrics = request(server, "/metrics").body.decode()
            handle.stop()
        for name in ("synthetic", "synthetic-2"):
            assert f'framepipe_frames_processed_total{{stream="{name}"}}' in metrics


class TestChecksUpFront:
    def test_a_lambda_is_refused_before_any_worker_starts(self) -> None:
        """A processor a worker cannot rebuild is a ValueError that says to use an import path."""
        with pytest.raises(ValueError, match="import path"):
            run_streams([SHORT, SHORT], processor=lambda frame: frame)

    def test_a_source_that_does_not_parse_is_refused(self, tmp_path: Path) -> None:
        """A missing file fails before any worker starts."""
        with pytest.raises(SourceError, match="no such file"):
            run_streams([SHORT, str(tmp_path / "missing.mp4")])

    @pytest.mark.parametrize(
        ("options", "message"),
        [
            ({"cv_threads": 0}, "cv_threads must be a positive integer"),
            ({"restart_attempts": -1}, "restart_attempts must be an integer >= 0"),
            ({"restart_attempts": [1]}, "one per source"),
            ({"names": ["a", "b", "c"]}, "3 names for 2 sources"),
            ({"engine": "cluster"}, "engine must be one of local"),
        ],
    )
    def test_bad_options_are_refused(self, options: dict[str, object], message: str) -> None:
        """Each option is checked, saying what was expected."""
        with pytest.raises(ValueError, match=message):
            run_streams([SHORT, SHORT], **options)  # type: ignore[arg-type]


def test_a_program_without_a_main_guard_gets_an_error_not_workers_without_end(
    tmp_path: Path,
) -> None:
    """A program that starts streams at module level: its worker, importing the module again,
    refuses to start streams of its own, so the program ends, naming the fix, instead of each
    worker starting another worker for as long as the machine lasts."""
    done = subprocess.run(
        child_command("streams_without_main_guard"),
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
        env={**os.environ, "FRAMEPIPE_LOG_DIR": str(tmp_path)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert 'if __name__ == "__main__":' in done.stderr
    assert done.stdout.startswith("ERROR ") and done.stdout.strip() != "ERROR None"
    logs = "".join(path.read_text() for path in tmp_path.glob("*.txt"))
    assert "pipeline start" not in logs  # no stream ran anywhere


def test_opencv_threads_are_the_cores_shared_out() -> None:
    """max(1, cores // streams)."""
    cores = len(psutil.Process().cpu_affinity() or [0])
    assert default_cv_threads(1) == cores
    assert default_cv_threads(cores * 4) == 1


@pytest.mark.parametrize(
    ("output", "expected"),
    [("out.mp4", "out-cam0.mp4"), ("v/{stream}/x.avi", "v/cam0/x.avi")],
)
def test_a_stream_output_path_carries_its_name(output: str, expected: str) -> None:
    """The name goes where {stream} is, else before the extension."""
    assert stream_output(output, "cam0") == expected
