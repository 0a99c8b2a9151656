"""Tests for framepipe.cli.run with one source (framepipe.cli._single): ``framepipe run``
in-process, in child processes, and on a real network stream served by ffmpeg."""

from __future__ import annotations

import importlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from framepipe.cli import main
from framepipe.logging import configure
from framepipe.pipeline import Pipeline
from framepipe.pipeline import processors as builtin_processors
from framepipe.pipeline.report import SUMMARY_KEYS
from helpers import child_command, refused_port, wait_until
from mounts import read_only_dir, tmpfs
from streams import StreamServer
from video_files import count_frames, write_vfr_mkv, write_video


def log_text(log_dir: Path) -> str:
    return "".join(path.read_text() for path in sorted(log_dir.glob("logs_*.txt*")))


def run_child(argv: list[str]) -> subprocess.CompletedProcess[str]:
    """Run ``python -m framepipe ARGV`` in a fresh process (for process-wide native state)."""
    return subprocess.run(
        [sys.executable, "-m", "framepipe", *argv], capture_output=True, text=True, timeout=120
    )


def stderr_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def output_failure(result: subprocess.CompletedProcess[str]) -> str:
    """The run failed writing its output: exit 1 and one line on stderr, which is returned."""
    assert result.returncode == 1
    lines = stderr_lines(result.stderr)
    assert len(lines) == 1, lines
    assert lines[0].startswith("framepipe: error: output failed on frame ")
    return lines[0]


class FailsOnFrameFive:
    """A processor that raises RuntimeError(message) on its sixth frame (frame 5) only."""

    def __init__(self, message: str) -> None:
        self.message = message
        self.calls = 0

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        self.calls += 1
        if self.calls == 6:
            raise RuntimeError(self.message)
        return frame


class TestRunInProcess:
    def test_a_file_run_writes_the_summary_and_the_log(self, tmp_path: Path, capsys):
        """A 45-frame file: exit 0, the summary JSON with every key, frames 0/15/30 logged."""
        clip = write_video(tmp_path / "clip.avi", frames=45)
        summary = tmp_path / "summary.json"
        logs = tmp_path / "logs"
        code = main(
            ["run", str(clip), "--processor", "edges", "--log-every", "15", "--log-dir", str(logs),
             "--summary-json", str(summary), "--quiet"]
        )  # fmt: skip
        assert code == 0
        data = json.loads(summary.read_text())
        assert list(data) == list(SUMMARY_KEYS)  # test_pipeline_report pins the documented list
        assert data["source"] == "clip.avi"
        assert data["processor"] == "edges"
        assert (data["frames_read"], data["frames_processed"], data["frames_dropped"]) == (
            45,
            45,
            0,
        )
        assert data["budget_ms"] == pytest.approx(33.333, abs=0.001)
        assert data["log"]["mode"] == "async"
        assert data["log"]["dropped"] == 0
        frame_lines = [line for line in log_text(logs).splitlines() if " frame " in line]
        assert [line.split(" frame ")[1].split(":")[0] for line in frame_lines] == ["0", "15", "30"]
        out = capsys.readouterr()
        assert "45 processed of 45 read" in out.out
        assert out.err == ""  # --quiet: no progress

    def test_sync_log_mode_and_max_frames(self, tmp_path: Path):
        """--log-mode sync is passed to the logger; --max-frames stops the default scene early."""
        summary = tmp_path / "s.json"
        code = main(
            ["run", "--max-frames", "12", "--processor", "none", "--log-mode", "sync",
             "--log-dir", str(tmp_path / "logs"), "--summary-json", str(summary), "--quiet"]
        )  # fmt: skip
        assert code == 0
        data = json.loads(summary.read_text())
        assert data["source"] == "synthetic:1280x720@30:10"
        assert data["frames_processed"] == 12
        assert data["log"]["mode"] == "sync"

    def test_output_video_has_every_processed_frame(self, tmp_path: Path):
        """--output writes a readable video with as many frames as were processed."""
        out = tmp_path / "out.mp4"
        code = main(
            ["run", "synthetic:160x120@30:1", "--processor", "gray", "--output", str(out),
             "--log-dir", str(tmp_path / "logs"), "--quiet"]
        )  # fmt: skip
        assert code == 0
        assert count_frames(out) == 30

    def test_progress_goes_to_stderr_unless_quiet(self, tmp_path: Path, capsys):
        """Without --quiet a file run draws a progress bar with its frame count on stderr."""
        code = main(["run", "synthetic:64x48@30:1", "--log-dir", str(tmp_path / "logs")])
        assert code == 0
        assert "30/30" in capsys.readouterr().err

    def test_a_processor_exception_exits_1_with_one_line_and_a_logged_traceback(
        self, tmp_path: Path, capfd, monkeypatch
    ):
        """A processor raising on frame 5 ends the run (no hang): exit 1, one stderr line,
        the traceback in the log, the partial summary still written."""
        monkeypatch.setitem(builtin_processors._FACTORIES, "blur",
                            lambda: FailsOnFrameFive("bad\nframe"))  # fmt: skip
        logs, summary = tmp_path / "logs", tmp_path / "s.json"
        code = main(
            ["run", "synthetic:64x48@30:100", "--processor", "blur", "--log-dir", str(logs),
             "--summary-json", str(summary), "--quiet"]
        )  # fmt: skip
        assert code == 1
        err = capfd.readouterr().err
        assert stderr_lines(err) == [
            "framepipe: error: processor failed on frame 5: RuntimeError: bad frame"
        ]
        assert "Traceback (most recent call last)" in log_text(logs)
        assert json.loads(summary.read_text())["frames_processed"] == 5

    def test_on_error_skip_logs_counts_and_goes_on(self, tmp_path: Path, capfd, monkeypatch):
        """--on-error skip: the frame that raises is logged with its index and counted in
        frames_failed; every other frame is processed and the run exits 0."""
        monkeypatch.setitem(builtin_processors._FACTORIES, "blur",
                            lambda: FailsOnFrameFive("bad frame"))  # fmt: skip
        logs, summary = tmp_path / "logs", tmp_path / "s.json"
        code = main(
            ["run", "synthetic:64x48@30:1", "--processor", "blur", "--on-error", "skip",
             "--log-dir", str(logs), "--summary-json", str(summary), "--quiet"]
        )  # fmt: skip
        assert code == 0
        assert stderr_lines(capfd.readouterr().err) == []
        data = json.loads(summary.read_text())
        assert (data["frames_read"], data["frames_processed"], data["frames_failed"]) == (30, 29, 1)
        assert "processor failed on frame 5: RuntimeError: bad frame; frame skipped" in log_text(
            logs
        )

    def test_max_consecutive_failures_stop_a_skipping_run_with_one_line(
        self, tmp_path: Path, capfd, monkeypatch
    ):
        """A processor failing on every frame under --on-error skip: the run stops after
        --max-consecutive-failures frames, exit 1, one line, the summary still written."""
        (tmp_path / "broken.py").write_text(
            "def fail(frame):\n    raise RuntimeError('model not loaded')\n"
        )
        monkeypatch.chdir(tmp_path)
        summary = tmp_path / "s.json"
        code = main(
            ["run", "synthetic:64x48@30:2", "--processor", "broken:fail", "--on-error", "skip",
             "--max-consecutive-failures", "4", "--log-dir", str(tmp_path / "logs"),
             "--summary-json", str(summary), "--quiet"]
        )  # fmt: skip
        assert code == 1
        assert stderr_lines(capfd.readouterr().err) == [
            "framepipe: error: processor failed on 4 frames in a row, the last frame 3: "
            "RuntimeError: model not loaded"
        ]
        data = json.loads(summary.read_text())
        assert (data["frames_processed"], data["frames_failed"]) == (0, 4)


# User processors in a module of their own, imported by the CLI through their import path.
PLUGIN = """
import numpy as np

built = 0


def darken(frame):
    return frame // 2


class Stamp:
    \"\"\"Counts the frames it sees and stamps the count in the top-left pixel.\"\"\"

    def __init__(self):
        global built
        built += 1
        self.seen = 0

    def __call__(self, frame):
        self.seen += 1
        out = frame.copy()
        out[0, 0] = self.seen % 256
        return out


LIMIT = 3
"""


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh module of processors, importable by name (unique, so never cached)."""
    name = f"fp_cli_plugin_{uuid.uuid4().hex[:12]}"
    (tmp_path / f"{name}.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    yield name
    sys.modules.pop(name, None)


class TestCustomProcessors:
    def test_import_paths_and_built_ins_chain_in_the_order_given(self, tmp_path: Path, plugin):
        """--processor MOD:Class --processor gray --processor MOD:function: one Stamp for the
        run sees every frame, the summary names the chain, the output holds the result."""
        summary, out = tmp_path / "s.json", tmp_path / "out.avi"
        code = main(
            ["run", "synthetic:64x48@30:1", "--processor", f"{plugin}:Stamp", "--processor",
             "gray", "--processor", f"{plugin}:darken", "--output", str(out), "--summary-json",
             str(summary), "--log-dir", str(tmp_path / "logs"), "--quiet"]
        )  # fmt: skip
        assert code == 0
        data = json.loads(summary.read_text())
        assert data["processor"] == f"{plugin}:Stamp+gray+{plugin}:darken"
        assert data["frames_processed"] == 30
        module = sys.modules[plugin]
        assert module.built == 1  # once per pipeline, not per frame (and not for the check)
        assert count_frames(out) == 30

    @pytest.mark.parametrize(
        ("attribute", "message"),
        [
            ("sharpen", "processor '{m}:sharpen': module '{m}' has no attribute 'sharpen'"),
            ("LIMIT", "processor '{m}:LIMIT': {m}.LIMIT must be a function or a class, "
                      "but got int"),
        ],
    )  # fmt: skip
    def test_a_spec_that_is_not_a_processor_is_a_usage_error_naming_module_and_attribute(
        self, tmp_path: Path, capfd, plugin: str, attribute: str, message: str
    ):
        """Exit 2 and one line naming the module and the attribute, before the source opens
        or the log directory is made."""
        logs = tmp_path / "logs"
        argv = ["run", "--processor", f"{plugin}:{attribute}", "--log-dir", str(logs), "--quiet"]
        assert main(argv) == 2
        assert stderr_lines(capfd.readouterr().err) == [
            "framepipe: error: " + message.format(m=plugin)
        ]
        assert not logs.exists()

    def test_the_console_script_imports_processors_from_the_current_directory(self, tmp_path: Path):
        """`framepipe run --processor filters:darken` in the directory holding filters.py
        works, as `python -m` would (the console script's own directory is on the path)."""
        exe = shutil.which("framepipe", path=os.path.dirname(sys.executable))
        if exe is None:
            pytest.fail("the framepipe console script is not installed (pip install -e .)")
        (tmp_path / "filters.py").write_text(PLUGIN)
        result = subprocess.run(
            [exe, "run", "synthetic:64x48@30:1", "--processor", "filters:darken",
             "--processor", "edges", "--quiet", "--log-dir", "logs"],
            cwd=tmp_path, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert "processor filters:darken+edges" in result.stdout


class TestRunErrors:
    @pytest.mark.parametrize(
        ("argv", "code", "message"),
        [
            (["no/such/clip.mp4"], 2, "framepipe: error: no such file: no/such/clip.mp4"),
            (["synthetic:10x10"], 2, "framepipe: error: synthetic source must be"),
            (["--budget-ms", "0"], 2, "framepipe: error: argument --budget-ms: must be a positive"),
            (["--log-every", "x"], 2, "framepipe: error: argument --log-every: must be a positive"),
            (["--max-frames", "-1"], 2, "framepipe: error: argument --max-frames: must be a"),
            (
                ["--processor", "sharpen"],
                2,
                "framepipe: error: unknown processor 'sharpen': "
                "expected one of none, gray, blur, edges, motion, or an import path",
            ),
            (
                ["--processor", "edges", "--processor", "fp_no_such_mod:f"],
                2,
                "framepipe: error: processor 'fp_no_such_mod:f': cannot import module",
            ),
            (["--drop-policy", "oldest"], 2, "framepipe: error: argument --drop-policy: invalid"),
            (["--output", "out.gif"], 2, "framepipe: error: output file extension must be one of"),
            (["--summary-json", "no/dir/s.json"], 2, "framepipe: error: --summary-json directory"),
            (["97"], 1, "framepipe: error: camera 97 does not open"),
            # numbers that used to overflow or make the summary JSON non-standard
            (["synthetic:64x64@" + "9" * 400 + ":1"], 2, "framepipe: error: scene fps must be"),
            (["synthetic:64x64@30:" + "9" * 400], 2, "framepipe: error: scene length must be"),
            (["synthetic:64x64@0." + "0" * 320 + "1:1"], 2, "framepipe: error: scene fps must"),
            # names the system refuses (ENAMETOOLONG) and outputs that are directories
            (["a" * 300 + ".mp4"], 2, "framepipe: error: source name is too long"),
            (["--output", "a" * 300 + ".mp4"], 2, "framepipe: error: output name is too long"),
            (["--summary-json", "a" * 300], 2, "framepipe: error: --summary-json name is too"),
            (["--summary-json", "."], 2, "framepipe: error: --summary-json must be a file"),
            # reliability settings
            (["--reconnect-attempts", "-1"], 2, "framepipe: error: argument --reconnect-attem"),
            (["--reconnect-attempts", "x"], 2, "framepipe: error: argument --reconnect-attem"),
            (["--stall-timeout-s", "0"], 2, "framepipe: error: argument --stall-timeout-s"),
            (["--reconnect-max-s", "inf"], 2, "framepipe: error: argument --reconnect-max-s"),
            (["--on-error", "ignore"], 2, "framepipe: error: argument --on-error: invalid"),
            (["--max-consecutive-failures", "0"], 2, "framepipe: error: argument --max-cons"),
        ],
        ids=lambda value: " ".join(value)[:32] if isinstance(value, list) else None,
    )
    def test_each_bad_input_is_one_line_and_an_exit_code(
        self, tmp_path: Path, capfd, argv: list[str], code: int, message: str, monkeypatch
    ):
        """Bad flags, specs and devices: the documented exit code and exactly one stderr line
        (OpenCV's and FFmpeg's own messages included), no traceback."""
        monkeypatch.chdir(tmp_path)  # relative paths in the table resolve inside the temporary dir
        assert main(["run", *argv, "--log-dir", str(tmp_path / "logs"), "--quiet"]) == code
        lines = stderr_lines(capfd.readouterr().err)
        assert len(lines) == 1, lines
        assert lines[0].startswith(message)

    def test_a_file_that_is_not_a_video(self, tmp_path: Path):
        """Text named .mp4: exit 1, one line naming the file, and none of FFmpeg's own output.

        A child process, because FFmpeg reads its log level once per process, at its first use.
        """
        fake = tmp_path / "fake.mp4"
        fake.write_text("not a video\n")
        result = run_child(["run", str(fake), "--log-dir", str(tmp_path / "logs"), "--quiet"])
        assert result.returncode == 1
        assert stderr_lines(result.stderr) == [
            f"framepipe: error: not a video file: {fake} (no decodable video stream)"
        ]

    def test_an_unreachable_url(self, tmp_path: Path):
        """Nothing listens on the port: exit 1 and one line, without FFmpeg's own message."""
        with refused_port() as port:  # bound, never listening: refused while the run tries
            url = f"tcp://127.0.0.1:{port}"
            result = run_child(["run", url, "--log-dir", str(tmp_path / "logs"), "--quiet"])
        assert result.returncode == 1
        assert stderr_lines(result.stderr) == [
            f"framepipe: error: stream {url} is unreachable or not a video stream "
            f"(connection refused by 127.0.0.1:{port})"
        ]

    def test_a_truncated_video_is_processed_then_reported(self, tmp_path: Path):
        """Half an MJPG AVI: the frames that decode are processed and summarised, then one
        error line and exit 1."""
        clip = write_video(tmp_path / "clip.avi", frames=60)
        data = clip.read_bytes()
        truncated = tmp_path / "half.avi"
        truncated.write_bytes(data[: len(data) // 2])
        summary = tmp_path / "s.json"
        result = run_child(
            ["run", str(truncated), "--processor", "none", "--log-dir", str(tmp_path / "logs"),
             "--summary-json", str(summary), "--quiet"]
        )  # fmt: skip
        assert result.returncode == 1
        processed = json.loads(summary.read_text())["frames_processed"]
        assert 10 < processed < 60
        assert f"{processed} processed of {processed} read" in result.stdout
        assert stderr_lines(result.stderr) == [
            f"framepipe: error: truncated video: half.avi ended after {processed} of 60 frames "
            "(processed what decoded)"
        ]

    def test_a_complete_variable_frame_rate_mkv_is_not_called_truncated(self, tmp_path: Path):
        """Matroska's frame count is an estimate (58 for 40 frames here): a complete file ends
        with exit 0 and no error line."""
        clip = write_vfr_mkv(tmp_path / "vfr.mkv")
        result = run_child(
            ["run", str(clip), "--processor", "none", "--log-dir", str(tmp_path / "logs"),
             "--quiet"]
        )  # fmt: skip
        assert (result.returncode, result.stderr) == (0, "")
        assert "40 processed of 40 read" in result.stdout

    def test_display_without_a_screen_fails_in_one_line(self, tmp_path: Path):
        """--display with no DISPLAY: exit 1 and one line, not an abort from the GUI toolkit."""
        env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
        result = subprocess.run(
            [sys.executable, "-m", "framepipe", "run", "--display", "--quiet",
             "--log-dir", str(tmp_path / "logs")],
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert result.returncode == 1
        assert stderr_lines(result.stderr) == [
            "framepipe: error: --display needs a screen, but DISPLAY is not set"
        ]


SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "sample.mp4"


def sample_copy(directory: Path, name: str = "clip.mp4") -> Path:
    path = directory / name
    shutil.copyfile(SAMPLE, path)
    return path


class TestOutputPaths:
    @pytest.mark.parametrize("flag", ["--output", "--summary-json", "--log-dir"])
    @pytest.mark.parametrize("alias", ["same", "symlink", "hardlink"])
    def test_an_output_that_is_the_source_is_a_usage_error_and_the_source_is_kept(
        self, tmp_path: Path, capfd: pytest.CaptureFixture[str], flag: str, alias: str
    ):
        """``run clip.mp4 --output clip.mp4`` used to truncate the clip (and --summary-json to
        replace it with JSON): now exit 2 and one line before anything is opened for writing."""
        clip = sample_copy(tmp_path)
        original = clip.read_bytes()
        target = clip
        if alias != "same":
            target = tmp_path / "alias.mp4"
            if alias == "symlink":
                target.symlink_to(clip)
            else:
                os.link(clip, target)
        argv = ["run", str(clip), "--quiet", "--log-dir", str(tmp_path / "logs"), flag, str(target)]
        assert main(argv) == 2
        lines = stderr_lines(capfd.readouterr().err)
        assert len(lines) == 1 and "is the source file" in lines[0], lines
        assert clip.read_bytes() == original
        assert not (tmp_path / "logs").exists()

    def test_two_outputs_that_are_one_file_are_a_usage_error(
        self, tmp_path: Path, capfd: pytest.CaptureFixture[str]
    ):
        """--output and --summary-json naming the same file would overwrite each other."""
        out = tmp_path / "x.mp4"
        argv = ["run", "synthetic:64x48@30:1", "--output", str(out), "--summary-json", str(out),
                "--log-dir", str(tmp_path / "logs"), "--quiet"]  # fmt: skip
        assert main(argv) == 2
        assert stderr_lines(capfd.readouterr().err) == [
            f"framepipe: error: --output and --summary-json are the same file: {out}"
        ]

    @pytest.mark.parametrize("flag", ["--output", "--summary-json", "--log-dir"])
    def test_a_read_only_directory_is_permission_denied_before_the_run(
        self, tmp_path: Path, capfd: pytest.CaptureFixture[str], flag: str
    ):
        """An output in a read-only place: exit 2 and 'permission denied' up front, not a codec
        error at frame 0 or a failure after the whole run."""
        with read_only_dir(tmp_path / "ro") as directory:
            name = {"--output": "out.mp4", "--summary-json": "s.json", "--log-dir": "logs"}[flag]
            argv = ["run", "synthetic:64x48@30:100", "--quiet", flag, str(directory / name)]
            if flag != "--log-dir":
                argv += ["--log-dir", str(tmp_path / "logs")]
            assert main(argv) == 2
        lines = stderr_lines(capfd.readouterr().err)
        assert len(lines) == 1, lines
        assert lines[0].startswith(f"framepipe: error: permission denied: {flag} ")
        assert not (tmp_path / "logs").exists()

    def test_a_source_that_does_not_open_leaves_no_log_file(self, tmp_path: Path):
        """The source is opened before the log file is created, so a failed open leaves no
        empty log behind."""
        fake = tmp_path / "fake.mp4"
        fake.write_text("not a video\n")
        logs = tmp_path / "logs"
        result = run_child(["run", str(fake), "--log-dir", str(logs), "--quiet"])
        assert result.returncode == 1
        assert not logs.exists() or list(logs.iterdir()) == []

    @pytest.mark.parametrize("flag", [None, "--output"])
    def test_a_file_name_that_is_not_utf8_is_refused_not_a_crash(
        self, tmp_path: Path, flag: str | None
    ):
        """OpenCV segfaulted (exit 139) on such a name; now exit 2 and one line."""
        raw = os.fsencode(str(tmp_path)) + b"/clip\xff.mp4"
        argv: list[str | bytes] = [sys.executable, "-m", "framepipe", "run", "--quiet",
                                   "--log-dir", str(tmp_path / "logs")]  # fmt: skip
        if flag is None:
            shutil.copyfile(SAMPLE, raw)
            argv.append(raw)
        else:
            argv += ["synthetic:64x48@30:1", flag, raw]
        result = subprocess.run(argv, capture_output=True, timeout=120)
        assert result.returncode == 2, result.stderr
        lines = stderr_lines(result.stderr.decode("utf-8", "replace"))
        assert len(lines) == 1
        assert "must be a valid UTF-8 file name, but got b'" in lines[0]

    def test_a_closed_stdout_writes_the_summary_json_and_says_so_in_one_line(self, tmp_path: Path):
        """``framepipe run ... | true``: the JSON is written before the summary is printed, and
        the broken pipe is one error line, exit 1, not a traceback."""
        summary = tmp_path / "s.json"
        read_end, write_end = os.pipe()
        os.close(read_end)  # nobody will read what the child prints
        try:
            result = subprocess.run(
                [sys.executable, "-m", "framepipe", "run", "synthetic:64x48@30:1", "--quiet",
                 "--log-dir", str(tmp_path / "logs"), "--summary-json", str(summary)],
                stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=120,
            )  # fmt: skip
        finally:
            os.close(write_end)
        assert result.returncode == 1
        assert stderr_lines(result.stderr) == [
            "framepipe: error: cannot print the summary: stdout is closed (broken pipe)"
        ]
        assert json.loads(summary.read_text())["frames_processed"] == 30

    @pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc/self/fd")
    def test_the_missing_descriptor_is_held_on_the_null_device(self, tmp_path: Path):
        """Descriptor 1 closed at start would go to the next file opened (the log), and what
        native code prints on stdout with it: it is held on the null device instead."""
        result = subprocess.run(
            ["bash", "-c", 'exec >&-; exec "$0" "$@"',
             *child_command("descriptor_one_after_main", "run", "synthetic:64x48@30:1",
                            "--quiet", "--log-dir", tmp_path / "logs")],
            stderr=subprocess.PIPE, text=True, timeout=120,
        )  # fmt: skip
        assert result.stderr.strip().splitlines()[-1] == f"fd1={os.devnull} rc=1"

    def test_a_video_that_cannot_be_written_fails_the_run_and_the_summary_says_what_is_in_it(
        self, tmp_path: Path
    ):
        """A file size limit (like a full disk) cuts the AVI short: exit 1, one line naming the
        cause, the summary still printed and written elsewhere, and its frame count is what the
        file holds (it used to say every frame was written)."""
        import resource

        out, summary = tmp_path / "out.avi", tmp_path / "s.json"
        limit = 400 * 1024

        def limit_file_size() -> None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

        result = subprocess.run(
            [sys.executable, "-m", "framepipe", "run", "synthetic:640x360@30:10", "--processor",
             "none", "--output", str(out), "--summary-json", str(summary), "--quiet",
             "--log-dir", str(tmp_path / "logs")],
            capture_output=True, text=True, timeout=120, preexec_fn=limit_file_size,
        )  # fmt: skip
        assert f"(file size limit of {limit} bytes reached)" in output_failure(result)
        written = count_frames(out)
        assert 0 < written < 300
        assert f"output      {written} frames -> {out}" in result.stdout
        data = json.loads(summary.read_text())
        assert data["frames_failed"] == 1
        assert data["frames_read"] == (
            data["frames_processed"] + data["frames_dropped"] + data["frames_failed"]
        )

    @pytest.mark.parametrize(("suffix", "playable"), [
        (".avi", True),  # MJPG frames one after another: what was written decodes
        (".mkv", True),  # the same, in Matroska clusters
        (".mp4", False),  # the index (moov) is written last: nothing plays without it
    ])  # fmt: skip
    def test_a_disk_that_fills_mid_run_is_one_line_and_keeps_what_the_container_allows(
        self, tmp_path: Path, suffix: str, playable: bool
    ):
        """The output's file system (a real 700 KiB tmpfs) fills up mid-run: exit 1, one line
        saying no space is left, the summary still printed, and the frames written before stay
        playable in .avi and .mkv, not in .mp4."""
        with tmpfs(tmp_path / "small", "700k") as small:
            out = small / f"out{suffix}"
            result = run_child(
                ["run", "synthetic:640x360@30:20", "--processor", "none", "--output", str(out),
                 "--log-dir", str(tmp_path / "logs"), "--quiet"]
            )  # fmt: skip
            assert "no space left on device" in output_failure(result)
            frames = count_frames(out)
            assert (0 < frames < 600) if playable else frames == 0
            assert f"output      {frames} frames -> {out}" in result.stdout


class TestSignals:
    @pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
    def test_a_signal_mid_run_leaves_a_playable_output_and_a_complete_log(
        self, tmp_path: Path, signum: signal.Signals
    ):
        """Ctrl-C, SIGTERM or SIGHUP (terminal closed) during a paced run: exit 0, an MP4 that
        plays with every processed frame, the log ending with the run's end record, and the
        summary printed and written."""
        out, logs, summary = tmp_path / "out.mp4", tmp_path / "logs", tmp_path / "s.json"
        child = subprocess.Popen(
            [sys.executable, "-m", "framepipe", "run", "synthetic:160x120@30:600", "--realtime",
             "--processor", "edges", "--log-every", "10", "--output", str(out),
             "--log-dir", str(logs), "--summary-json", str(summary), "--quiet"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            wait_until(lambda: "frame 20:" in log_text(logs), "20 frames logged", timeout=30)
            child.send_signal(signum)
            stdout, stderr = child.communicate(timeout=30)
        finally:
            if child.poll() is None:
                child.kill()
                child.communicate()
        assert child.returncode == 0, stderr
        assert stderr == ""
        data = json.loads(summary.read_text())
        assert data["frames_processed"] >= 20
        assert count_frames(out) == data["frames_processed"]
        text = log_text(logs)
        assert f"stopped by {signum.name}" in text
        assert "pipeline end (stopped)" in text
        assert "ended: stopped" in stdout

    def test_ctrl_c_while_a_stream_opens_stops_at_once(self, tmp_path: Path):
        """A server that accepts and never answers: Ctrl-C ends the 10 s open at once, with one
        line saying so."""
        with socket.socket() as server:
            server.bind(("127.0.0.1", 0))
            server.listen(1)
            server.settimeout(60)
            url = f"tcp://127.0.0.1:{server.getsockname()[1]}"
            child = subprocess.Popen(
                [sys.executable, "-m", "framepipe", "run", url, "--quiet",
                 "--log-dir", str(tmp_path / "logs")],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )  # fmt: skip
            try:
                connection, _ = server.accept()  # the child is inside the open now
                with connection:
                    time.sleep(0.5)
                    child.send_signal(signal.SIGINT)
                    started = time.monotonic()
                    _, stderr = child.communicate(timeout=30)
                    waited = time.monotonic() - started
            finally:
                if child.poll() is None:
                    child.kill()
                    child.communicate()
        assert stderr_lines(stderr) == [f"framepipe: error: stopped while opening stream {url}"]
        assert child.returncode == 1
        assert waited < 5.0  # far from the 10 s open timeout, with room for a busy machine


class TestConsoleScript:
    def test_the_installed_command_runs_the_default_scene_shortened(self, tmp_path: Path):
        """The ``framepipe`` console script runs a small scene and prints the summary."""
        exe = shutil.which("framepipe", path=os.path.dirname(sys.executable))
        if exe is None:
            pytest.fail("the framepipe console script is not installed (pip install -e .)")
        result = subprocess.run(
            [exe, "run", "synthetic:64x48@30:1", "--quiet", "--log-dir", str(tmp_path / "l")],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert "30 processed of 30 read" in result.stdout


@pytest.fixture
def live_stream() -> Iterator[str]:
    """A real MPEG-TS stream at 30 FPS, served by ffmpeg on 127.0.0.1 to one client."""
    with StreamServer(size="320x240") as server:
        yield server.url


@pytest.fixture
def server() -> Iterator[StreamServer]:
    """A real 30 FPS stream that a test may kill, pause and start again on the same port."""
    with StreamServer() as running:
        yield running


class OnFrame:
    """A processor (put in place of a built-in) that calls ``action`` when it reaches a frame."""

    def __init__(self, at: int, action: Callable[[], object]) -> None:
        self.at, self.action, self.calls = at, action, 0

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        self.calls += 1
        if self.calls == self.at:
            self.action()
        return frame


class TestLiveStream:
    def test_latest_policy_skips_frames_a_slow_processor_cannot_take(
        self, tmp_path: Path, live_stream: str
    ):
        """A 30 FPS stream and a 60 ms processor: the default ``latest`` policy drops and counts
        frames instead of queueing them, so frame age stays near one processing time."""

        def slow(frame: np.ndarray) -> np.ndarray:
            time.sleep(0.060)
            return frame

        log = configure(log_dir=tmp_path / "logs")
        report = Pipeline(live_stream, processor=slow, max_frames=25, logger=log).run()
        assert report.drop_policy == "latest"
        assert report.source_info is not None
        assert report.source_info.kind == "stream"
        assert report.frames_processed == 25
        assert report.frames_dropped > 0
        # Every frame read was processed, dropped, or is the one left in the slot at the stop.
        unaccounted = report.frames_read - report.frames_processed - report.frames_dropped
        assert unaccounted in (0, 1)
        # Queued frames would age by 60 ms each; with one slot, age stays a few frames' worth.
        assert report.frame_age_ms["p50"] < 10 * 60

    def test_the_cli_reads_a_stream_with_a_live_status_line(
        self, tmp_path: Path, live_stream: str, capsys
    ):
        """``framepipe run tcp://...`` shows the live status and stops at --max-frames; stderr is
        no terminal here, so the status is plain lines, never a ``\\r`` redraw."""
        code = main(
            ["run", live_stream, "--processor", "blur", "--max-frames", "40",
             "--log-dir", str(tmp_path / "logs")]
        )  # fmt: skip
        assert code == 0
        out = capsys.readouterr()
        assert "40 processed of" in out.out
        assert "FPS" in out.err
        assert "\r" not in out.err


DROPPER = """
import os, signal


class Dropper:
    # Kills the stream's server (by its pid) when it reaches frame FP_DROP_AT.
    def __init__(self):
        self.calls = 0

    def __call__(self, frame):
        self.calls += 1
        if self.calls == int(os.environ["FP_DROP_AT"]):
            os.kill(int(os.environ["FP_DROP_PID"]), signal.SIGKILL)
        return frame
"""


def run_dropping_child(
    tmp_path: Path, server: StreamServer, at: int, argv: list[str]
) -> subprocess.CompletedProcess[str]:
    """``framepipe run`` on the stream in a fresh process (FFmpeg reads its log level once per
    process), whose processor kills the server at frame ``at``."""
    (tmp_path / "dropper.py").write_text(DROPPER)
    env = {**os.environ, "FP_DROP_AT": str(at), "FP_DROP_PID": str(server.pid)}
    return subprocess.run(
        [sys.executable, "-m", "framepipe", "run", server.url, "--processor", "dropper:Dropper",
         "--log-dir", str(tmp_path / "logs"), "--quiet", *argv],
        capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env,
    )  # fmt: skip


class TestLiveStreamDrops:
    def test_a_stream_that_drops_and_comes_back_is_reconnected_and_counted(
        self, tmp_path: Path, server: StreamServer, monkeypatch
    ):
        """ffmpeg killed mid-run and started again on the same port 1 s later: the run goes on
        to --max-frames, exit 0, the summary counts the reconnect and the time without one,
        and the log tells each state change."""
        monkeypatch.setitem(
            builtin_processors._FACTORIES,
            "blur",
            lambda: OnFrame(20, lambda: server.restart_after(1.0)),
        )
        logs, summary = tmp_path / "logs", tmp_path / "s.json"
        code = main(
            ["run", server.url, "--processor", "blur", "--max-frames", "60",
             "--reconnect-max-s", "0.5", "--log-dir", str(logs), "--summary-json", str(summary),
             "--quiet"]
        )  # fmt: skip
        assert code == 0
        data = json.loads(summary.read_text())
        assert data["frames_processed"] == 60
        assert data["reconnects"] == 1
        assert 0.5 < data["disconnected_s"] < 30
        text = log_text(logs)
        assert "WARNING" in text and "disconnected after" in text and "reconnecting" in text
        assert "connecting (attempt 1)" in text
        assert "running again after" in text

    def test_a_stalled_stream_is_a_disconnect_not_the_end(
        self, tmp_path: Path, server: StreamServer, monkeypatch
    ):
        """A server that stops sending (SIGSTOP) used to end the run as finished (exit 0,
        "ended: end"): after --stall-timeout-s it is a drop, and the restarted stream is read."""
        monkeypatch.setitem(
            builtin_processors._FACTORIES,
            "blur",
            lambda: OnFrame(20, lambda: server.restart_after(2.0, stall=True)),
        )
        logs, summary = tmp_path / "logs", tmp_path / "s.json"
        code = main(
            ["run", server.url, "--processor", "blur", "--max-frames", "50",
             "--stall-timeout-s", "1", "--reconnect-max-s", "0.5", "--log-dir", str(logs),
             "--summary-json", str(summary), "--quiet"]
        )  # fmt: skip
        assert code == 0
        data = json.loads(summary.read_text())
        assert (data["frames_processed"], data["reconnects"]) == (50, 1)
        assert "no frame for" in log_text(logs)

    def test_attempts_that_run_out_end_the_run_with_exit_1_and_the_summary(
        self, tmp_path: Path, server: StreamServer
    ):
        """The server never comes back: after --reconnect-attempts failed attempts the run ends
        with exit 1 and one error line (none of FFmpeg's own), and the summary of what was
        processed is written."""
        summary = tmp_path / "s.json"
        result = run_dropping_child(
            tmp_path, server, 15,
            ["--reconnect-attempts", "2", "--reconnect-max-s", "0.2", "--summary-json",
             str(summary)],
        )  # fmt: skip
        assert result.returncode == 1
        lines = stderr_lines(result.stderr)
        assert len(lines) == 1, lines
        assert lines[0].startswith(f"framepipe: error: {server.url} lost after ")
        assert ": 2 reconnect attempts failed (last: stream " in lines[0]
        data = json.loads(summary.read_text())
        assert data["frames_processed"] >= 15
        assert data["reconnects"] == 0 and data["disconnected_s"] > 0
        assert "source failed:" in log_text(tmp_path / "logs")

    def test_no_reconnect_attempts_make_a_drop_the_end_of_the_run(
        self, tmp_path: Path, server: StreamServer
    ):
        """--reconnect-attempts 0: the first drop ends the run at once, exit 1, one line."""
        result = run_dropping_child(tmp_path, server, 10, ["--reconnect-attempts", "0"])
        assert result.returncode == 1
        lines = stderr_lines(result.stderr)
        assert len(lines) == 1 and lines[0].endswith("and reconnecting is off"), lines

    def test_a_file_never_reconnects(self, tmp_path: Path):
        """A file's end is the end, whatever --reconnect-attempts says: exit 0, no reconnect."""
        clip = write_video(tmp_path / "clip.avi", frames=10)
        logs, summary = tmp_path / "logs", tmp_path / "s.json"
        code = main(
            ["run", str(clip), "--reconnect-attempts", "5", "--log-dir", str(logs),
             "--summary-json", str(summary), "--quiet"]
        )  # fmt: skip
        assert code == 0
        data = json.loads(summary.read_text())
        assert (data["frames_processed"], data["reconnects"], data["disconnected_s"]) == (10, 0, 0)
        assert "reconnect" not in log_text(logs)


def run_without_stdout(argv: list[str]) -> subprocess.CompletedProcess[str]:
    """Run ``python -m framepipe ARGV`` started with descriptor 1 closed (``>&-``)."""
    return subprocess.run(
        ["bash", "-c", 'exec >&-; exec "$0" -m framepipe "$@"', sys.executable, *argv],
        stderr=subprocess.PIPE, text=True, timeout=120,
    )  # fmt: skip


class TestStartedWithStdoutClosed:
    def test_the_summary_that_cannot_be_printed_is_one_error_line(self, tmp_path: Path):
        """``framepipe run ... >&-``: no stdout at all is a summary not printed, exit 1, one
        line, and the summary JSON is still written."""
        summary = tmp_path / "s.json"
        result = run_without_stdout(
            ["run", "synthetic:160x120@30:1", "--quiet", "--log-dir", str(tmp_path / "logs"),
             "--summary-json", str(summary)]
        )  # fmt: skip
        assert result.returncode == 1
        assert stderr_lines(result.stderr) == [
            "framepipe: error: cannot print the summary: stdout is closed"
        ]
        assert json.loads(summary.read_text())["frames_processed"] == 30


class TestStreamNameInOneOutput:
    def test_the_placeholder_takes_the_default_name(self, tmp_path: Path):
        """``--output {stream}.avi`` with one source and no --name: the name several streams
        would give the source, never a file named ``{stream}.avi``."""
        clip = write_video(tmp_path / "clip.avi", frames=5)
        out = tmp_path / "out"
        out.mkdir()
        code = main(
            ["run", str(clip), "--output", str(out / "{stream}-done.avi"), "--quiet",
             "--log-dir", str(tmp_path / "logs")]
        )  # fmt: skip
        assert code == 0
        assert sorted(path.name for path in out.iterdir()) == ["clip-done.avi"]
        assert count_frames(out / "clip-done.avi") == 5

    def test_the_placeholder_takes_the_given_name(self, tmp_path: Path, capsys):
        """``--name door``: the placeholder becomes ``door``, and the summary names that file."""
        code = main(
            ["run", "synthetic:64x48@30:1", "--name", "door", "--output",
             str(tmp_path / "{stream}.avi"), "--quiet", "--log-dir", str(tmp_path / "logs")]
        )  # fmt: skip
        assert code == 0
        assert (tmp_path / "door.avi").is_file()
        assert not (tmp_path / "{stream}.avi").exists()
        assert str(tmp_path / "door.avi") in capsys.readouterr().out

    def test_the_placeholder_is_checked_with_the_name(self, tmp_path: Path, capsys):
        """The output checked before the run is the one written: naming the source is refused."""
        clip = write_video(tmp_path / "clip.avi", frames=5)
        code = main(
            ["run", str(clip), "--output", str(tmp_path / "{stream}.avi"), "--quiet",
             "--log-dir", str(tmp_path / "logs")]
        )  # fmt: skip
        assert code == 2
        assert clip.is_file() and count_frames(clip) == 5
        assert "{stream}" not in capsys.readouterr().err


SAMPLE = Path(__file__).resolve().parent.parent / "samples" / "sample.mp4"


class TestLoop:
    def test_the_sample_clip_loops_until_max_frames_and_the_summary_counts_loops(
        self, tmp_path: Path, capsys
    ):
        """samples/sample.mp4 (150 frames) looped for 400: every frame processed, started
        again twice, the log's frame indexes counting on past the clip's length."""
        summary, logs = tmp_path / "s.json", tmp_path / "logs"
        code = main(
            ["run", str(SAMPLE), "--loop", "--max-frames", "400", "--log-every", "100",
             "--processor", "none", "--log-dir", str(logs), "--summary-json", str(summary),
             "--quiet"]
        )  # fmt: skip
        assert code == 0
        data = json.loads(summary.read_text())
        assert (data["frames_read"], data["frames_processed"], data["loops"]) == (400, 400, 2)
        assert list(data) == [*SUMMARY_KEYS, "loops"]
        frames = [line.split(" frame ")[1].split(":")[0] for line in log_text(logs).splitlines()
                  if " frame " in line]  # fmt: skip
        assert frames == ["0", "100", "200", "300"]
        assert "loops       started again 2 times" in capsys.readouterr().out

    def test_a_generated_clip_loops_in_several_streams(self, tmp_path: Path):
        """Two looping clips, a worker each: each stream's summary counts its own loops."""
        a = write_video(tmp_path / "a.avi", frames=20)
        b = write_video(tmp_path / "b.avi", frames=30)
        summary = tmp_path / "s.json"
        code = main(
            ["run", str(a), str(b), "--loop", "--max-frames", "75", "--processor", "none",
             "--log-dir", str(tmp_path / "logs"), "--summary-json", str(summary), "--quiet"]
        )  # fmt: skip
        assert code == 0
        streams = json.loads(summary.read_text())["streams"]
        assert [(s["frames_processed"], s["loops"]) for s in streams] == [(75, 3), (75, 2)]

    def test_without_loop_the_summary_has_no_loops_key(self, tmp_path: Path):
        summary = tmp_path / "s.json"
        assert main(["run", "synthetic:32x32@30:0.2", "--summary-json", str(summary),
                     "--log-dir", str(tmp_path / "logs"), "--quiet"]) == 0  # fmt: skip
        assert "loops" not in json.loads(summary.read_text())

    @pytest.mark.parametrize(
        "sources", [["0"], ["rtsp://127.0.0.1:9/x"], ["synthetic:32x32@30:0.2", "1"]]
    )
    def test_a_live_source_with_loop_is_a_usage_error(self, tmp_path: Path, capfd, sources):
        """A camera or stream cannot start again: exit 2, one line, nothing opened."""
        code = main(["run", *sources, "--loop", "--log-dir", str(tmp_path / "logs"), "--quiet"])
        assert code == 2
        lines = stderr_lines(capfd.readouterr().err)
        assert len(lines) == 1 and lines[0].startswith("framepipe: error: --loop: ")
        assert "cannot start again" in lines[0]
        assert not (tmp_path / "logs").exists()


class TestCameraSettings:
    def test_the_summary_shows_what_was_asked_and_delivered_and_the_log_warns_once(
        self, tmp_path: Path, capsys
    ):
        """The synthetic scene asked like a camera: it honours size and rate, not a format.
        The summary has both sides; the format not honoured is one WARNING in the log."""
        summary, logs = tmp_path / "s.json", tmp_path / "logs"
        code = main(
            ["run", "synthetic:64x48@30:1", "--camera-size", "32x24", "--camera-fps", "15",
             "--camera-fourcc", "MJPG", "--log-dir", str(logs), "--summary-json", str(summary),
             "--quiet"]
        )  # fmt: skip
        assert code == 0
        data = json.loads(summary.read_text())
        assert data["camera"] == {
            "requested": {"size": "32x24", "fps": 15.0, "fourcc": "MJPG"},
            "delivered": {"size": "32x24", "fps": 15.0, "fourcc": None},
            "not_honoured": ["fourcc"],
        }
        assert data["frames_processed"] == 15
        warnings = [line for line in log_text(logs).splitlines() if "WARNING" in line]
        assert len(warnings) == 1
        assert "did not honour fourcc MJPG (delivers unknown)" in warnings[0]
        assert "(not honoured: fourcc)" in capsys.readouterr().out

    def test_without_camera_flags_the_summary_has_no_camera_key(self, tmp_path: Path):
        summary = tmp_path / "s.json"
        assert main(["run", "synthetic:32x32@30:0.2", "--summary-json", str(summary),
                     "--log-dir", str(tmp_path / "logs"), "--quiet"]) == 0  # fmt: skip
        assert "camera" not in json.loads(summary.read_text())

    @pytest.mark.parametrize(
        ("argv", "code", "message"),
        [
            (["--camera-size", "1280"], 2, "argument --camera-size: must be WIDTHxHEIGHT"),
            (["--camera-fps", "0"], 2, "argument --camera-fps: must be a number of frames"),
            (["--camera-fps", "x"], 2, "argument --camera-fps: must be a number of frames"),
            (["--camera-fourcc", "MJPEG"], 2, "argument --camera-fourcc: must be four"),
            ([str(SAMPLE), "--camera-fps", "30"], 2, "camera settings are for a camera or"),
            (["synthetic:32x32@30:1", str(SAMPLE), "--camera-size", "16x16"], 2, "camera sett"),
            (["97", "--camera-size", "1280x720"], 1, "camera 97 does not open"),
        ],
    )
    def test_bad_settings_are_one_line_and_an_exit_code(
        self, tmp_path: Path, capfd, argv: list[str], code: int, message: str
    ):
        assert main(["run", *argv, "--log-dir", str(tmp_path / "logs"), "--quiet"]) == code
        lines = stderr_lines(capfd.readouterr().err)
        assert len(lines) == 1 and lines[0].startswith(f"framepipe: error: {message}"), lines
        assert not (tmp_path / "logs").exists()

    def test_several_streams_ask_each_source(self, tmp_path: Path):
        """Two scenes, a worker each: each stream's summary shows its camera reading."""
        summary = tmp_path / "s.json"
        code = main(
            ["run", "synthetic:64x48@30:0.5", "synthetic:64x48@30:0.5", "--camera-size", "32x24",
             "--log-dir", str(tmp_path / "logs"), "--summary-json", str(summary), "--quiet"]
        )  # fmt: skip
        assert code == 0
        streams = json.loads(summary.read_text())["streams"]
        assert [s["camera"]["delivered"]["size"] for s in streams] == ["32x24", "32x24"]
