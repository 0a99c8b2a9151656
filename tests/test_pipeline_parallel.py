"""Several processor chains on one stream: outputs in frame order, threads and processes,
per-frame errors, a worker process killed, and nothing left in shared memory."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import cv2
import pytest

from framepipe.pipeline import Pipeline, PipelineError
from framepipe.pipeline.parallel import ProcessWorkers, ThreadWorkers, check_parallel_safe
from framepipe.pipeline.results import ResultsLine
from helpers import wait_until
from parallel_processors import DIE_MARKER_ENV, Overlap, jittery, not_parallel
from shm_watch import SharedMemoryWatch

TESTS = Path(__file__).resolve().parent
SCENE = "synthetic:160x120@30:2"  # 60 frames, each one different


def _log() -> logging.Logger:
    return logging.getLogger("framepipe.test.parallel")


@pytest.fixture
def shm_untouched(own_shm: SharedMemoryWatch) -> Iterator[None]:
    """The shared-memory segments the test's processes made are all gone at its end."""
    yield
    assert own_shm.left() == set()


def _results(workers: int, kind: str = "thread", **options: object) -> list[ResultsLine]:
    lines: list[ResultsLine] = []
    Pipeline(
        SCENE, processor="parallel_processors:jittery", workers=workers, worker_kind=kind,
        logger=_log(), on_results=lines.append, **options,  # type: ignore[arg-type]
    ).run()  # fmt: skip
    return lines


class TestOrder:
    @pytest.mark.parametrize("kind", ["thread", "process"])
    def test_four_workers_hand_outputs_on_in_frame_order(
        self, kind: str, shm_untouched: None
    ) -> None:
        """Each frame takes a random time, so workers finish out of order; the results (handed
        on with the frame) come in the order of one worker, frame for frame."""
        one = [(line.frame, line.results) for line in _results(1)]
        four = [(line.frame, line.results) for line in _results(4, kind)]
        assert len(one) == 60 and four == one

    def test_the_video_output_is_in_frame_order(self, tmp_path: Path) -> None:
        """The frames written with four workers are the frames written with one."""
        videos = {}
        for workers in (1, 4):
            path = tmp_path / f"out{workers}.avi"
            Pipeline(SCENE, processor=jittery, workers=workers, output=path, logger=_log()).run()
            capture = cv2.VideoCapture(str(path))
            frames = []
            while True:
                ok, frame = capture.read()
                if not ok:
                    break
                frames.append(int(frame.sum()))
            capture.release()
            videos[workers] = frames
        assert len(videos[1]) == 60 and videos[4] == videos[1]

    def test_the_summary_says_workers_and_their_busy_shares(self) -> None:
        report = Pipeline(SCENE, processor=jittery, workers=3, logger=_log()).run()
        summary = report.to_dict()
        assert summary["workers"] == 3 and len(summary["worker_busy"]) == 3
        assert all(0.0 < share <= 1.0 for share in summary["worker_busy"])
        assert report.frames_processed == 60


class TestLiveSources:
    def test_latest_keeps_at_most_k_frames_in_flight_and_counts_the_rest_as_dropped(
        self,
    ) -> None:
        """A paced source at 30 FPS, two workers taking 100 ms a frame: never more than two
        frames in the processor at once, the frames skipped meanwhile counted as dropped."""
        overlap = Overlap(0.1)
        report = Pipeline(
            "synthetic:160x120@30:2", processor=overlap, workers=2, realtime=True,
            drop_policy="latest", logger=_log(),
        ).run()  # fmt: skip
        assert overlap.most == 2
        assert report.frames_dropped > 0
        assert report.frames_read == (
            report.frames_processed + report.frames_dropped + report.frames_failed
        )


class TestParallelSafe:
    @pytest.mark.parametrize(
        ("spec", "name"),
        [
            ("motion", "motion"),  # a built-in with a background model
            (not_parallel, "not_parallel"),  # a function attribute
            (["gray", "parallel_processors:not_parallel"], "parallel_processors:not_parallel"),
        ],
    )
    def test_an_unsafe_processor_is_refused_with_more_than_one_worker(
        self, spec: object, name: str
    ) -> None:
        with pytest.raises(ValueError, match=rf"processor '{name}' is not safe to run in parallel"):
            Pipeline(SCENE, processor=spec, workers=2, logger=_log())  # type: ignore[arg-type]
        check_parallel_safe(spec, 1)  # type: ignore[arg-type]  # one worker: fine

    def test_the_command_line_says_which_processor_in_one_line(self, tmp_path: Path) -> None:
        done = subprocess.run(
            [sys.executable, "-m", "framepipe", "run", SCENE, "--processor", "motion",
             "--workers", "2", "--quiet", "--log-dir", str(tmp_path)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 2
        assert "processor 'motion' is not safe to run in parallel" in done.stderr
        assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


class TestErrors:
    @pytest.mark.parametrize("kind", ["thread", "process"])
    def test_skip_skips_exactly_the_frames_that_failed(self, kind: str) -> None:
        one = Pipeline(
            SCENE, processor="parallel_processors:fails_on_odd", on_error="skip", logger=_log()
        ).run()
        two = Pipeline(
            SCENE, processor="parallel_processors:fails_on_odd", on_error="skip", workers=2,
            worker_kind=kind, logger=_log(),
        ).run()  # fmt: skip
        assert one.frames_failed > 0
        assert two.frames_failed == one.frames_failed
        assert two.frames_processed == one.frames_processed

    def test_stop_ends_the_run_on_the_first_failed_frame(self) -> None:
        with pytest.raises(PipelineError, match=r"processor failed on frame .*odd frame"):
            Pipeline(
                SCENE, processor="parallel_processors:fails_on_odd", workers=2, logger=_log()
            ).run()


class TestWorkerProcessKilled:
    def test_under_skip_the_frame_fails_with_its_signal_and_a_new_worker_goes_on(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
        shm_untouched: None,
    ) -> None:  # fmt: skip
        marker = tmp_path / "die"
        marker.touch()
        monkeypatch.setenv(DIE_MARKER_ENV, str(marker))
        caplog.set_level(logging.ERROR, logger="framepipe.test.parallel")
        report = Pipeline(
            SCENE, processor="parallel_processors:dies_once", workers=2, worker_kind="process",
            on_error="skip", logger=_log(),
        ).run()  # fmt: skip
        assert (report.frames_failed, report.frames_processed) == (1, 59)
        said = [r.getMessage() for r in caplog.records]
        assert any("killed by SIGKILL" in message for message in said), said

    def test_under_stop_the_run_fails_naming_the_signal(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shm_untouched: None
    ) -> None:
        marker = tmp_path / "die"
        marker.touch()
        monkeypatch.setenv(DIE_MARKER_ENV, str(marker))
        with pytest.raises(PipelineError, match="killed by SIGKILL"):
            Pipeline(
                SCENE, processor="parallel_processors:dies_once", workers=2,
                worker_kind="process", logger=_log(),
            ).run()  # fmt: skip

    def test_a_worker_killed_from_outside_while_it_waits_is_replaced(
        self, shm_untouched: None
    ) -> None:
        """SIGKILL from another process to an idle worker: no frame fails, a new one starts."""
        workers = ProcessWorkers("none", 2)
        try:
            victim = workers._procs[0]
            assert victim is not None
            os.kill(victim.process.pid or 0, signal.SIGKILL)
            # Dead as its parent sees it (reaped): a frame sent in the very instant a worker
            # dies fails with it, like the frame it holds.
            wait_until(lambda: not victim.process.is_alive(), "the worker to die")
            import numpy as np

            for seq in range(1, 11):
                workers.submit(seq, np.full((8, 8, 3), seq, np.uint8))
                done = wait_until(lambda s=seq: workers.wait(s, 0.1), f"frame {seq}", 30.0)  # type: ignore[misc]
                assert done.error is None, (done, victim.process.pid, victim.process.is_alive())
                assert int(done.output.max()) == seq  # type: ignore[union-attr]
        finally:
            workers.close()


class TestCtrlC:
    def test_ctrl_c_with_two_process_workers_leaves_a_playable_video_and_no_shared_memory(
        self, tmp_path: Path, own_shm: SharedMemoryWatch
    ) -> None:
        """SIGINT to the whole process group, as a terminal sends it: the workers ignore it,
        the run stops after the frames in flight, the video is finalised, the ring unlinked."""
        output, summary = tmp_path / "out.avi", tmp_path / "s.json"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), *sys.path])}
        process = subprocess.Popen(
            [sys.executable, "-m", "framepipe", "run", "synthetic:320x240@30:60", "--realtime",
             "--processor", "parallel_processors:slow_python", "--workers", "2",
             "--worker-kind", "process", "--output", str(output), "--quiet",
             "--summary-json", str(summary), "--log-dir", str(tmp_path / "logs"),
             "--log-every", "1"],
            env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            logs = tmp_path / "logs"
            wait_until(
                lambda: any("frame 10:" in log.read_text() for log in logs.glob("*.txt")),
                "ten frames processed",
                timeout=60,
            )
            os.killpg(process.pid, signal.SIGINT)
            assert process.wait(timeout=60) == 0, process.stderr.read() if process.stderr else ""
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        report = json.loads(summary.read_text())
        capture = cv2.VideoCapture(str(output))
        count = 0
        while capture.read()[0]:
            count += 1
        capture.release()
        assert count == report["frames_processed"] >= 10
        assert own_shm.left() == set()


def test_thread_workers_end_their_threads() -> None:
    workers = ThreadWorkers("none", 3)
    workers.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("framepipe-worker")]
