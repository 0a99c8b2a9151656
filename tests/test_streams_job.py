"""Tests for framepipe.streams.job: what crosses to a worker, and processors it can rebuild."""

from __future__ import annotations

import pickle
import re
import subprocess
from pathlib import Path

import pytest

from framepipe import PipelineConfig
from framepipe.pipeline.processors import CannyEdges, grayscale
from framepipe.streams.job import LogTarget, StreamJob, portable_processor
from framepipe.typing import Frame
from helpers import child_command


class TestPortableProcessor:
    def test_names_and_import_paths_pass_as_they_are(self) -> None:
        """Built-ins and import paths are already what a worker rebuilds from."""
        spec = ["gray", "framepipe.pipeline.processors:CannyEdges"]
        assert portable_processor(spec) == ("gray", "framepipe.pipeline.processors:CannyEdges")
        assert portable_processor("edges") == ("edges",)
        assert portable_processor(None) is None

    def test_an_importable_function_becomes_its_import_path(self) -> None:
        """A module-level function is sent by name, as module:function."""
        assert portable_processor([grayscale, "edges"]) == (
            "framepipe.pipeline.processors:grayscale",
            "edges",
        )

    def test_a_lambda_is_refused_with_the_way_out(self) -> None:
        """A lambda has no name to import it by: use an import path."""
        with pytest.raises(ValueError, match=r"lambda has no import path.*import path instead"):
            portable_processor(lambda frame: frame)

    def test_a_function_defined_inside_a_function_is_refused(self) -> None:
        """A nested function cannot be imported either."""

        def local(frame: Frame) -> Frame:
            return frame

        with pytest.raises(ValueError, match="defined inside a function"):
            portable_processor(local)

    @pytest.mark.parametrize("item", [CannyEdges, CannyEdges()], ids=["class", "instance"])
    def test_a_class_or_an_instance_is_refused(self, item: object) -> None:
        """A class is named by path ('module:Class', built in the worker), not passed."""
        with pytest.raises(ValueError, match=re.escape("'package.module:Class'")):
            portable_processor(item)  # type: ignore[arg-type]

    def test_a_processor_defined_in_main_is_refused_clearly(self, tmp_path: Path) -> None:
        """A script's own function: refused before any worker starts, saying to use an
        import path (a worker process does not import the script as __main__)."""
        result = subprocess.run(
            child_command("processor_in_main"), capture_output=True, text=True, timeout=60,
            cwd=tmp_path,
        )  # fmt: skip
        assert result.stdout.strip() == (
            "processor sharpen cannot be rebuilt in a worker process (sharpen is defined in "
            "__main__, which a worker process does not import): name it by import path "
            "instead, 'package.module:function'"
        )
        assert not (tmp_path / "logs").exists()  # nothing started


def test_a_job_crosses_a_process_boundary_intact() -> None:
    """Pickled and back, as a spawned worker receives it."""
    job = StreamJob(
        "door", "clip.mp4", ("edges",), PipelineConfig(budget_ms=20), 1, LogTarget("logs")
    )
    assert pickle.loads(pickle.dumps(job)) == job
    assert job.processor_name == "edges"
