"""Tests for framepipe.cli.serve: ``framepipe serve --config FILE --check``."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from framepipe.cli import main
from framepipe.cli._service_config import parse_service_config
from framepipe.cli.serve import _cv_threads
from helpers import process_ended, wait_until
from video_files import count_frames, write_video

SAMPLE = (Path(__file__).resolve().parent.parent / "samples" / "sample.mp4").as_posix()

CAMERAS = f"""
[defaults]
processor = ["motion"]
budget_ms = 33.3

[server]
port = 5001

[[stream]]
name = "door"
source = "rtsp://10.0.0.5/stream1"
processor = ["samples.custom_processor:pixelate", "edges"]

[[stream]]
name = "desk"
source = 0
camera = {{ size = "1280x720", fps = 30, fourcc = "MJPG" }}

[[stream]]
name = "demo"
source = "{SAMPLE}"
loop = true
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cameras.toml"
    path.write_text(text, encoding="utf-8")
    return path


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.strip()]


class TestCheck:
    def test_a_good_file_lists_its_streams_and_exits_0(self, tmp_path: Path, capsys, monkeypatch):
        """Each stream on a line with its source, processor and the settings it changes (the
        camera at 10.0.0.5 is never contacted: nothing is opened)."""
        monkeypatch.chdir(Path(__file__).resolve().parent.parent)  # samples.* imports from here
        path = write(tmp_path, CAMERAS)
        assert main(["serve", "--config", str(path), "--check"]) == 0
        out = capsys.readouterr()
        lines = out.out.splitlines()
        assert lines[0] == f"{path}: 3 streams"
        assert lines[1].split()[:5] == ["door", "stream", "rtsp://10.0.0.5/stream1", "processor",
                                        "samples.custom_processor:pixelate+edges"]  # fmt: skip
        assert "camera=size:1280x720,fps:30.0,fourcc:MJPG" in lines[2]
        assert lines[3].split()[:3] == ["demo", "file", SAMPLE] and "loop=true" in lines[3]
        assert lines[-1] == "server  http://127.0.0.1:5001/"
        assert out.err == ""

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ('[[stream]]\nname = "a"\nsource = \n', "not valid TOML: Invalid value (at line 3"),
            ('[[stream]]\nname = "a"\nsource = 0\nbudgt_ms = 1\n',
             "stream 'a': unknown key 'budgt_ms' (did you mean 'budget_ms'?)"),
            ('[[stream]]\nname = "a"\nsource = 0\n[[stream]]\nname = "a"\nsource = 1\n',
             "stream 'a': name 'a' of stream 2 is already the name of stream 1"),
            ('[[stream]]\nname = "a"\nsource = 0\nlog_every = -1\n',
             "stream 'a': log_every must be a positive integer, but got -1"),
            ('[[stream]]\nname = "a"\nsource = "synthetic"\nprocessor = "fp_no_such_mod:f"\n',
             "stream 'a': processor 'fp_no_such_mod:f': cannot import module 'fp_no_such_mod'"),
            ('[server]\napi_processors = ["fp_no_such_mod:f"]\n',
             "[server]: processor 'fp_no_such_mod:f': cannot import module"),
        ],
    )  # fmt: skip
    def test_a_bad_file_is_one_line_naming_file_stream_and_key_exit_2(
        self, tmp_path: Path, capfd, text: str, message: str
    ):
        path = write(tmp_path, text)
        assert main(["serve", "--config", str(path), "--check"]) == 2
        out, err = capfd.readouterr()
        assert out == ""
        assert len(error_lines(err)) == 1
        assert error_lines(err)[0].startswith(f"framepipe: error: {path}: {message}")

    def test_a_missing_file_is_exit_2(self, tmp_path: Path, capfd):
        assert main(["serve", "--config", str(tmp_path / "nope.toml"), "--check"]) == 2
        assert error_lines(capfd.readouterr().err) == [
            f"framepipe: error: {tmp_path / 'nope.toml'}: cannot read the file: "
            "No such file or directory"
        ]

    def test_the_config_flag_is_required(self, capfd):
        assert main(["serve", "--check"]) == 2
        lines = error_lines(capfd.readouterr().err)
        assert lines == ["framepipe: error: the following arguments are required: --config"]

    def test_the_installed_command_checks_a_file(self, tmp_path: Path):
        """The console script, as a service manager would call it: exit 0, streams listed."""
        path = write(tmp_path, f'[[stream]]\nname = "demo"\nsource = "{SAMPLE}"\nloop = true\n')
        result = subprocess.run(
            [sys.executable, "-m", "framepipe", "serve", "--config", str(path), "--check"],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PYTHONWARNINGS": "error"},
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines()[0] == f"{path}: 1 stream"
        assert result.stderr == ""


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as reply:
        return json.load(reply)


class TestServe:
    @pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
    def test_a_file_s_streams_run_until_a_stop_signal_then_exit_0_with_the_summary(
        self, tmp_path: Path, stop: signal.Signals
    ):
        """A looping generated clip (with its own output) and the scene asked like a camera, each
        with its own settings, in a real ``framepipe serve``: the stats server shows both; the
        stop signal ends it with exit 0, the summary, a playable output and no worker left."""
        clip = write_video(tmp_path / "clip.avi", frames=20)
        output = tmp_path / "demo.mkv"
        config = write(tmp_path, f"""
[defaults]
processor = "edges"
realtime = true

[log]
dir = "{(tmp_path / "logs").as_posix()}"

[server]
port = 0
cv_threads = 3

[[stream]]
name = "demo"
source = "{clip.as_posix()}"
loop = true
output = "{output.as_posix()}"

[[stream]]
name = "scene"
source = "synthetic:64x48@30:600"
processor = "none"
camera = {{ size = "32x24" }}
""")  # fmt: skip
        summary, err = tmp_path / "summary.json", tmp_path / "err.txt"
        with err.open("w") as stderr:
            service = subprocess.Popen(
                [sys.executable, "-m", "framepipe", "serve", "--config", str(config),
                 "--summary-json", str(summary)],
                stdout=subprocess.PIPE, stderr=stderr, text=True,
            )  # fmt: skip
        try:
            url = wait_until(
                lambda: next((line.split(" on ")[1].strip() for line in err.read_text().splitlines()
                              if "stats server on" in line), None),
                lambda: f"the stats server's address: {err.read_text()}",
                timeout=30,
            )  # fmt: skip

            def streams() -> list[dict[str, Any]]:
                return list(get_json(f"{url}system-resources")["streams"])

            # 30 frames of a 20-frame clip: it has started again.
            wait_until(
                lambda: all(s["frames_processed"] >= 30 for s in streams()),
                lambda: f"both streams to pass 30 frames: {streams()}",
                timeout=30,
            )
            assert [s["stream"] for s in streams()] == ["demo", "scene"]
            assert streams()[1]["camera"]["delivered"]["size"] == "32x24"
            service.send_signal(stop)
            out, _ = service.communicate(timeout=30)
        finally:
            if service.poll() is None:
                service.kill()
                service.wait(10)
        assert service.returncode == 0, err.read_text()
        assert [line.split()[0] for line in out.splitlines()[1:3]] == ["demo", "scene"]
        data = json.loads(summary.read_text())
        demo, scene = data["streams"]
        assert demo["ended"] == scene["ended"] == "stopped"
        assert demo["loops"] >= 1 and demo["processor"] == "edges" and scene["processor"] == "none"
        assert demo["cv_threads"] == scene["cv_threads"] == 3
        assert count_frames(output) == demo["frames_processed"]
        assert all(process_ended(entry["pid"]) for entry in data["streams"])

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ('[[stream]]\nname = "a"\nsource = "synthetic"\noutput = "x.mkv"\n'
             '[[stream]]\nname = "b"\nsource = "synthetic"\noutput = "./x.mkv"\n',
             "stream 'b': output ./x.mkv is also the output of stream 'a'"),
        ],
    )  # fmt: skip
    def test_a_file_that_cannot_run_is_exit_2_before_anything_starts(
        self, tmp_path: Path, capfd, text: str, message: str
    ):
        path = write(tmp_path, text)
        assert main(["serve", "--config", str(path)]) == 2
        assert error_lines(capfd.readouterr().err) == [f"framepipe: error: {path}: {message}"]


class TestOpenCVThreads:
    @pytest.mark.parametrize(
        ("server", "engine", "threads"),
        [("", "local", 1), ("", "ray", None), ("cv_threads = 4\n", "local", 4),
         ("cv_threads = 4\n", "ray", 4)],
    )  # fmt: skip
    def test_one_thread_a_worker_unless_the_file_says(
        self, server: str, engine: str, threads: int | None
    ) -> None:
        """However many cores and streams: a service's streams come and go. With Ray (None),
        the CPUs each actor asks for decide, as with ``framepipe run``."""
        config = parse_service_config(f"[server]\n{server}", "cameras.toml")
        assert _cv_threads(config, argparse.Namespace(engine=engine)) == threads
