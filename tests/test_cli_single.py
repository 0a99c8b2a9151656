"""Tests for framepipe.cli._single: a processor that ends the run out of band (a bare
BaseException, ``sys.exit``) is one line and the documented exit code, in a child process as a
user runs it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import wait_until

PLUGIN = """\
import sys

frames = 0


def raises_base_exception(frame):
    global frames
    frames += 1
    if frames > 5:
        raise BaseException("out of band")
    return frame


def exits(frame):
    global frames
    frames += 1
    if frames > 5:
        sys.exit(3)
    return frame
"""

EXITS_AT_IMPORT = "import sys\nsys.exit(7)\n\ndef proc(frame):\n    return frame\n"


def run_in(cwd: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """``python -m framepipe run ARGV --quiet`` in ``cwd`` (whose modules are importable)."""
    return subprocess.run(
        [sys.executable, "-m", "framepipe", "run", *argv, "--quiet",
         "--log-dir", "logs", "--summary-json", "s.json"],
        cwd=cwd, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def stderr_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


@pytest.mark.parametrize(
    ("processor", "cause"),
    [
        ("raises_base_exception", "BaseException: out of band"),
        ("exits", "SystemExit: 3"),  # sys.exit(3) in a library, mid-run
    ],
)
def test_a_processor_ending_the_run_out_of_band_is_one_line_exit_1_and_the_summary(
    tmp_path: Path, processor: str, cause: str
) -> None:
    """No traceback on stderr: the cause and the frames done, exit 1 (a processor failure);
    the summary JSON counts the 5 frames processed, and the traceback is in the log."""
    (tmp_path / "plugin.py").write_text(PLUGIN)
    result = run_in(tmp_path, "synthetic:64x48@30:2", "--processor", f"plugin:{processor}")
    assert result.returncode == 1, result.stderr
    assert stderr_lines(result) == [
        f"framepipe: error: processor failed: {cause} after 5 processed frames"
    ]
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["frames_processed"] == 5
    log = "".join(path.read_text() for path in (tmp_path / "logs").glob("logs_*.txt*"))
    assert "Traceback (most recent call last)" in log


def test_a_processor_module_that_exits_at_import_is_a_usage_error(tmp_path: Path) -> None:
    """``sys.exit(7)`` while the module imports: exit 2 (a processor that does not import), one
    line naming the module, before anything is opened or a log made."""
    (tmp_path / "quits.py").write_text(EXITS_AT_IMPORT)
    result = run_in(tmp_path, "synthetic:64x48@30:1", "--processor", "quits:proc")
    assert result.returncode == 2, result.stderr
    assert stderr_lines(result) == [
        "framepipe: error: processor 'quits:proc': cannot import module 'quits' "
        "(it called sys.exit(7))"
    ]
    assert not (tmp_path / "logs").exists()


SPINS = """\
frames = 0


def spins(frame):
    global frames
    frames += 1
    while frames > 5:
        pass
    return frame
"""


def test_a_hung_frame_loop_is_logged_with_its_stack_and_ctrl_c_still_ends_the_run(
    tmp_path: Path,
) -> None:
    """A processor in ``while True`` after 5 frames: past --hang-timeout-s the log has an ERROR
    with the frame loop's stack; Ctrl-C then ends the run: exit 0 and the summary JSON."""
    (tmp_path / "plugin.py").write_text(SPINS)
    process = subprocess.Popen(
        [sys.executable, "-m", "framepipe", "run", "synthetic:64x48@30:30", "--processor",
         "plugin:spins", "--hang-timeout-s", "1", "--quiet", "--log-dir", "logs",
         "--summary-json", "s.json"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:

        def log() -> str:
            return "".join(path.read_text() for path in (tmp_path / "logs").glob("logs_*.txt*"))

        wait_until(lambda: "frame loop hung" in log(), "the hang in the log", timeout=60.0)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert json.loads((tmp_path / "s.json").read_text())["frames_processed"] == 5
    hang = log().split("frame loop hung", 1)[1]
    assert "ERROR" in log().split("frame loop hung", 1)[0].splitlines()[-1]
    assert "hung on frame 5: no progress for 1 s" in log()
    assert 'plugin.py", line 7 in spins' in hang and "in _loop" in hang
