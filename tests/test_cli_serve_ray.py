"""``framepipe serve --engine ray``: a real service process whose streams run in Ray actors on a
local Ray instance it starts, changed through its HTTP API over real sockets; and Ray's flags
checked as ``framepipe run`` checks them."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from framepipe.cli import main
from helpers import child_command, process_ended, wait_until
from ray_helpers import RAY_FLAG_ERRORS
from service_process import START_S, Service

TOKEN = "s3cret-token"
PACED = "synthetic:64x48@30:600"  # with realtime: ten minutes unless stopped
RAY_START_S = 120.0  # a cold interpreter, then a Ray instance of its own, on a busy machine
SESSION = re.compile(r"session_\d{4}-\d\d-\d\d_[\d_-]+")  # a Ray instance's own directory


def write_config(tmp_path: Path, streams: str) -> Path:
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n")
    config = tmp_path / "cameras.toml"
    config.write_text(f"""
[defaults]
processor = "none"
realtime = true
log_every = 10

[log]
dir = "{(tmp_path / "logs").as_posix()}"

[server]
port = 0
api_token_file = "{token.as_posix()}"

{streams}""")  # fmt: skip
    return config


class RayService(Service):
    """A :class:`Service` started with ``--engine ray`` and ``flags`` after its usual ones."""

    def __init__(self, config: Path, tmp_path: Path, *flags: str) -> None:
        super().__init__(
            config, tmp_path, flags=("--engine", "ray", *flags),
            start_s=max(START_S, RAY_START_S),
        )  # fmt: skip


@pytest.mark.local_ray
@pytest.mark.timeout(300)
def test_a_service_on_ray_adds_and_deletes_an_actor_and_leaves_no_ray_process(
    tmp_path: Path,
) -> None:
    """One stream from the file and one added through the API, each in an actor of the Ray
    instance the service started (a process of its own on this node); the added one deleted
    (204, its actor's records in the one log to its end); SIGTERM: exit 0, the summary
    written, and every process the service started, Ray's own among them, gone."""
    pytest.importorskip("ray")
    config = write_config(tmp_path, f'[[stream]]\nname = "cam"\nsource = "{PACED}"\n')
    with RayService(config, tmp_path) as service:
        service.wait_frames("cam", timeout=RAY_START_S)
        made = service.request("POST", "/streams", {"name": "added", "source": PACED},
                               token=TOKEN)  # fmt: skip
        assert made.status == 201, made
        service.wait_frames("added", 10)
        added = service.stream("added")["state"]
        assert added["node"] == socket.gethostname()
        actor_pid = added["pid"]
        seen = {process.pid: process for process in service.descendants()}
        assert actor_pid in seen and actor_pid != service.stream("cam")["state"]["pid"]
        names = {process.name() for process in seen.values()}
        assert {"raylet", "gcs_server"} <= names, names
        (session,) = {found for process in seen.values() if process.name() == "raylet"
                      for found in SESSION.findall(" ".join(process.cmdline()))}  # fmt: skip
        assert {"raylet", "gcs_server"} <= {process.name() for process in of_session(session)}

        gone = service.request("DELETE", "/streams/added", token=TOKEN)
        assert (gone.status, gone.document) == (204, None)
        assert service.names() == ["cam"]
        wait_until(lambda: process_ended(actor_pid), "the deleted stream's actor to end", 30)
        seen.update((process.pid, process) for process in service.descendants())
        assert service.stop() == 0, service.err.read_text()
    summary = json.loads(service.summary.read_text())
    cam = {entry["stream"]: entry for entry in summary["streams"]}["cam"]
    assert cam["ended"] == "stopped" and cam["exit"] == 0 and cam["frames_processed"] >= 1
    log = service.log_text(tmp_path / "logs")
    assert f"[added {actor_pid} #" in log
    assert "pipeline end (stopped)" in log.split(f"[added {actor_pid} #")[-1]
    wait_until(
        lambda: all(process_ended(pid) for pid in seen),
        lambda: f"no process left: {[p for p in seen if not process_ended(p)]}",
        30,
    )
    assert of_session(session) == []  # none of its Ray instance's, wherever it was started


def of_session(session: str) -> list[psutil.Process]:
    """The live processes whose command line names a Ray session directory."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if session in " ".join(process.info["cmdline"] or ()) and not process_ended(process.pid):
            found.append(process)
    return found


@pytest.mark.parametrize(
    ("flags", "message"),
    RAY_FLAG_ERRORS,
)
def test_a_ray_flag_that_cannot_apply_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    """Ray's flags without --engine ray, or with a bad value: exit 2 in one line, nothing
    started, no log created, as with framepipe run."""
    config = write_config(tmp_path, f'[[stream]]\nname = "cam"\nsource = "{PACED}"\n')
    assert main(["serve", "--config", str(config), *flags]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and err[0].startswith("framepipe")
    assert not (tmp_path / "logs").exists()


def test_a_cluster_address_nobody_answers_at_fails_at_once_in_one_line(tmp_path: Path) -> None:
    """--ray-address host:port with nothing listening: exit 1 within seconds, one line, before
    a log or the stats server exists."""
    pytest.importorskip("ray")
    config = write_config(tmp_path, f'[[stream]]\nname = "cam"\nsource = "{PACED}"\n')
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{probe.getsockname()[1]}"  # bound, never listening
        result = subprocess.run(
            [sys.executable, "-m", "framepipe", "serve", "--config", str(config),
             "--engine", "ray", "--ray-address", address],
            cwd=tmp_path, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.startswith(
        f"framepipe: error: cannot join the Ray cluster at {address}: nothing answers at"
    )
    assert result.stderr.count("\n") == 1
    assert not (tmp_path / "logs").exists()


def test_serve_on_ray_without_ray_is_a_usage_error_saying_how_to_install_it(
    tmp_path: Path,
) -> None:
    """A Python where importing ray fails: --check and the service both exit 2 with one line
    naming the extra."""
    config = write_config(tmp_path, f'[[stream]]\nname = "cam"\nsource = "{PACED}"\n')
    for extra in (["--check"], []):
        result = subprocess.run(
            child_command("serve_without_ray", "--config", config, "--engine", "ray", *extra),
            cwd=tmp_path, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert (result.returncode, result.stdout) == (2, ""), result.stderr
        assert result.stderr == (
            "framepipe: error: the ray engine needs Ray, which is not installed: "
            "pip install 'framepipe[ray]'\n"
        )
    assert not (tmp_path / "logs").exists()


def test_check_with_the_ray_engine_lists_the_streams_and_starts_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--check --engine ray: the streams listed, exit 0, no Ray process started."""
    pytest.importorskip("ray")
    config = write_config(tmp_path, f'[[stream]]\nname = "cam"\nsource = "{PACED}"\n')
    before = set(psutil.Process().children(recursive=True))
    assert main(["serve", "--config", str(config), "--check", "--engine", "ray"]) == 0
    assert "  cam  synthetic " in capsys.readouterr().out
    assert set(psutil.Process().children(recursive=True)) <= before
    assert not (tmp_path / "logs").exists()
