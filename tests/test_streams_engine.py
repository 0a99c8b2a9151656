"""Tests for framepipe.streams.engine: what the supervisor may read of a worker handle."""

from __future__ import annotations

import subprocess
import sys

import pytest

from framepipe import PipelineConfig
from framepipe.streams.engine import LocalEngine, WorkerHandle
from framepipe.streams.job import StreamJob

pytestmark = pytest.mark.usefixtures("logs_in_tmp")


class TestLocalWorker:
    def test_a_local_worker_is_a_worker_handle_on_this_machine(self) -> None:
        """Everything the supervisor reads is declared by WorkerHandle: a local worker runs
        here (no node) and its exit code says how it ended (no death of its own to tell)."""
        job = StreamJob("scene", "synthetic:32x32@30:1", None, PipelineConfig(), cv_threads=1)
        worker = LocalEngine().start(job)
        try:
            assert isinstance(worker, WorkerHandle)
            assert worker.node is None and worker.death is None
        finally:
            worker.kill()
            worker.close()


PRELOAD_CHILD = """
import sys, psutil
from framepipe import PipelineConfig
from framepipe.streams.engine import LocalEngine
from framepipe.streams.job import StreamJob

if __name__ == "__main__":
    engine = LocalEngine("forkserver", preload=sys.argv[1] == "1")
    job = StreamJob("scene", "synthetic:32x32@30:1", None, PipelineConfig(), cv_threads=1)
    worker = engine.start(job)
    worker.kill()
    worker.close()
    server = [p for p in psutil.Process().children() if "forkserver" in " ".join(p.cmdline())]
    maps = " ".join(m.path for m in server[0].memory_maps())
    print("cv2" in maps)
"""


class TestPreload:
    @pytest.mark.parametrize(("preload", "loaded"), [("1", "True"), ("0", "False")])
    def test_a_preloading_fork_server_has_imported_the_worker_s_modules(
        self, tmp_path, preload: str, loaded: str
    ) -> None:
        """With preload, the fork server of a fresh program has OpenCV mapped before it forks
        (each worker starts with its imports done); without, it has not."""
        script = tmp_path / "preload_child.py"
        script.write_text(PRELOAD_CHILD)
        done = subprocess.run(
            [sys.executable, str(script), preload], capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == loaded

    def test_only_a_fork_server_preloads(self) -> None:
        with pytest.raises(ValueError, match="preload needs start_method 'forkserver'"):
            LocalEngine("spawn", preload=True)
