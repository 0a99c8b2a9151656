"""Tests for framepipe.streams.engine: what the supervisor may read of a worker handle."""

from __future__ import annotations

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
