"""Tests for samples/: the clip generator, the committed clip and the example scripts."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import cv2
import numpy as np
import pytest

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def load_make_sample() -> ModuleType:
    """Import samples/make_sample.py by path (samples/ is a folder of scripts, not a package)."""
    spec = importlib.util.spec_from_file_location("make_sample", SAMPLES / "make_sample.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read_clip(path: Path) -> tuple[int, tuple[int, int], float]:
    """Decode every frame; return (frames decoded, (width, height) of the frames, container FPS)."""
    capture = cv2.VideoCapture(str(path))
    assert capture.isOpened(), f"cannot open {path}"
    count, size = 0, (0, 0)
    try:
        fps = capture.get(cv2.CAP_PROP_FPS)
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            count += 1
            size = (frame.shape[1], frame.shape[0])
    finally:
        capture.release()
    return count, size, fps


class TestMakeSample:
    @pytest.mark.parametrize("suffix", [".mp4", ".avi"])
    def test_script_writes_a_clip_with_the_requested_frames_and_size(
        self, tmp_path: Path, suffix: str
    ) -> None:
        """Run as a script, it writes fps x seconds frames of the requested size."""
        out = tmp_path / f"clip{suffix}"
        result = subprocess.run(
            [
                sys.executable,
                str(SAMPLES / "make_sample.py"),
                str(out),
                "--width",
                "160",
                "--height",
                "96",
                "--fps",
                "10",
                "--seconds",
                "1.5",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert "wrote 15 frames" in result.stdout
        assert read_clip(out) == (15, (160, 96), 10.0)

    def test_objects_move_from_frame_to_frame_over_a_fixed_backdrop(self) -> None:
        """Consecutive frames differ in a few places only: the movers, not the backdrop."""
        make_sample = load_make_sample()
        first = make_sample.render_frame(10, 320, 180)
        second = make_sample.render_frame(11, 320, 180)
        changed = np.any(first != second, axis=2).mean()
        assert 0.001 < changed < 0.2
        # Frames are a pure function of the index.
        np.testing.assert_array_equal(first, make_sample.render_frame(10, 320, 180))

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["clip.mkv"], "output must end in .mp4 or .avi, but got 'clip.mkv'"),
            (["clip.mp4", "--width", "101"], "width must be an even number of at least 16"),
            (["clip.mp4", "--fps", "0"], "fps must be positive, but got 0"),
            (["missing/clip.mp4"], "output directory must exist"),
        ],
    )
    def test_bad_arguments_fail_with_one_line_and_exit_code_2(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
    ) -> None:
        """A user mistake is one error line on stderr, no traceback, and no file written."""
        make_sample = load_make_sample()
        args = [str(tmp_path / args[0]), *args[1:]]
        assert make_sample.main(args) == 2
        err = capsys.readouterr().err
        assert err.startswith("make_sample: error: ")
        assert message in err
        assert err.count("\n") == 1
        assert list(tmp_path.iterdir()) == []


def test_committed_sample_clip_is_the_documented_five_seconds_at_640x360() -> None:
    """samples/sample.mp4 is small and decodes to 150 frames of 640x360 at 30 FPS."""
    clip = SAMPLES / "sample.mp4"
    assert clip.stat().st_size < 3 * 1024 * 1024
    assert read_clip(clip) == (150, (640, 360), 30.0)


# The samples import themselves by import path: keep their bytecode out of samples/.
NO_BYTECODE = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}


def run_sample(script: str, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run one of the example scripts as a user would, from ``cwd``."""
    return subprocess.run(
        [sys.executable, str(SAMPLES / script), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
        env=NO_BYTECODE,
    )


def test_custom_processor_example_processes_the_sample_clip_and_writes_video_and_log(
    tmp_path: Path,
) -> None:
    """The custom-processor example runs its chain over all 150 frames, saves them, and logs."""
    result = run_sample("custom_processor.py", tmp_path, "--output", "out.mp4")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("150 frames at ")
    assert read_clip(tmp_path / "out.mp4")[:2] == (150, (640, 360))
    (log_file,) = (tmp_path / "logs").iterdir()
    text = log_file.read_text()
    # Every 30th frame is logged: frames 0, 30, ..., 120.
    for index in range(0, 150, 30):
        assert f"frame {index}: " in text
    assert "pipeline end (end): frames_read=150 frames_processed=150" in text


def test_the_sample_processors_run_from_the_command_line_by_import_path(tmp_path: Path) -> None:
    """In samples/, `framepipe run sample.mp4 --processor custom_processor:pixelate
    --processor custom_processor:BrightnessMeter` runs the function and one meter instance."""
    exe = shutil.which("framepipe", path=os.path.dirname(sys.executable))
    if exe is None:
        pytest.fail("the framepipe console script is not installed (pip install -e .)")
    summary = tmp_path / "s.json"
    result = subprocess.run(
        [exe, "run", "sample.mp4", "--processor", "custom_processor:pixelate",
         "--processor", "custom_processor:BrightnessMeter", "--max-frames", "20", "--quiet",
         "--log-dir", str(tmp_path / "logs"), "--summary-json", str(summary)],
        cwd=SAMPLES, capture_output=True, text=True, timeout=90, check=False, env=NO_BYTECODE,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(summary.read_text())
    assert data["processor"] == "custom_processor:pixelate+custom_processor:BrightnessMeter"
    assert data["frames_processed"] == 20


def test_custom_processor_example_reports_a_missing_source_in_one_line(tmp_path: Path) -> None:
    """A source that does not exist is one error line and exit code 1."""
    result = run_sample("custom_processor.py", tmp_path, "no-such-clip.mp4")
    assert result.returncode == 1
    assert result.stderr.startswith("custom_processor: error: ")
    assert result.stderr.count("\n") == 1


def test_logging_example_writes_its_own_and_plain_stdlib_records_to_one_file(
    tmp_path: Path,
) -> None:
    """framepipe calls, plain logging.getLogger records and a traceback all land in the log."""
    result = run_sample(
        "logging_in_your_app.py", tmp_path, "--log-dir", "mylogs", "--stats-port", "0"
    )
    assert result.returncode == 0, result.stderr
    assert "records accepted 18, written 18, dropped 0" in result.stdout
    # The stats server it starts answers over HTTP with the logger's own figures.
    assert '"logging": {"queue_size": 0, "queue_maxsize": 10000' in result.stdout
    assert '"written": 18' in result.stdout
    (log_file,) = (tmp_path / "mylogs").iterdir()
    lines = log_file.read_text().splitlines()
    assert any("INFO     framepipe: app starting" in line for line in lines)
    # Plain stdlib loggers, captured without any change to the code that uses them.
    assert any("myapp.settings: settings loaded: {'workers': 3, 'jobs': 5}" in ln for ln in lines)
    assert any("ERROR    myapp.cache: cache lookup failed" in line for line in lines)
    assert "KeyError: 'missing'" in lines
    # Named children from three threads, five jobs each; DEBUG is below the level.
    finished = [line for line in lines if " finished job " in line]
    assert len(finished) == 15
    assert not any("started" in line for line in lines)
