"""``framepipe serve`` as a service, end to end: a real process, its HTTP API over real sockets,
SIGHUP reloads and SIGTERM, a real ffmpeg-served stream, real outputs and the one log."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import psutil
import pytest

from helpers import process_ended, process_resources, settled_back, wait_until
from service_process import Service
from shm_watch import SharedMemoryWatch
from streams import StreamServer
from video_files import count_frames, write_video

TOKEN = "s3cret-token-of-the-service"
PACED = "synthetic:64x48@30:600"  # with realtime: ten minutes unless stopped
RSS_BOUND = 20 * 2**20


def _file_streams(*tables: str) -> str:
    return "".join(f"[[stream]]\n{table}\n" for table in tables)


class Layout:
    """A service's directories and its config file: the log, outputs, media, the token."""

    def __init__(self, tmp_path: Path) -> None:
        self.root = tmp_path
        self.logs = tmp_path / "logs"
        self.out = tmp_path / "out"
        self.media = tmp_path / "media"
        for directory in (self.out, self.media):
            directory.mkdir()
        self.token = tmp_path / "token"
        self.token.write_text(TOKEN + "\n")
        self.config = tmp_path / "cameras.toml"

    def write(self, streams: str) -> None:
        self.config.write_text(f"""
[defaults]
processor = "none"
realtime = true
log_every = 10

[log]
dir = "{self.logs.as_posix()}"

[server]
port = 0
api_token_file = "{self.token.as_posix()}"
output_dir = "{self.out.as_posix()}"
media_dir = "{self.media.as_posix()}"

{streams}""")  # fmt: skip


def frame_indexes(log: str, name: str) -> list[int]:
    """The frame numbers a stream logged, in order, from every worker it had."""
    return [int(m) for m in re.findall(rf"\[{re.escape(name)} \d+ #\d+\] \S+: frame (\d+):", log)]


@pytest.mark.timeout(300)
def test_a_service_s_streams_change_by_api_and_reload_and_it_stops_clean(
    tmp_path: Path, own_shm: SharedMemoryWatch
) -> None:
    """Three streams from the file (a looping file, the scene, an ffmpeg stream); two added
    through the API, one deleted (its output plays, its records are in the log), one restarted;
    the file changed and SIGHUP (a stream added, one removed, one changed, one untouched: the
    untouched one keeps its worker and logs every frame index); a broken file and SIGHUP (kept,
    an ERROR, the counter moves); SIGTERM: exit 0, every output plays, nothing left behind."""
    layout = Layout(tmp_path)
    clip = write_video(layout.media / "clip.avi", frames=20)
    with StreamServer() as camera:
        layout.write(_file_streams(
            f'name = "clip"\nsource = "{clip.as_posix()}"\nloop = true\n'
            f'output = "{(layout.out / "clip.mkv").as_posix()}"',
            f'name = "scene"\nsource = "{PACED}"',
            f'name = "live"\nsource = "{camera.url}"\nrealtime = false',
        ))  # fmt: skip
        with Service(layout.config, tmp_path) as service:
            for name in ("clip", "scene", "live"):
                service.wait_frames(name)

            # Two streams through the API; one writes a video under output_dir.
            made = service.request(
                "POST", "/streams", {"name": "added1", "source": PACED, "output": "added1.mkv"},
                token=TOKEN,
            )  # fmt: skip
            assert made.status == 201, made
            assert made.headers["location"] == "/streams/added1"
            assert made.document["origin"] == "api"
            assert service.request(
                "POST", "/streams", {"name": "added2", "source": PACED}, token=TOKEN
            ).status == 201  # fmt: skip
            service.wait_frames("added1", 15)
            service.wait_frames("added2")
            listed = service.request("GET", "/streams").document["streams"]
            assert [(s["name"], s["origin"]) for s in listed] == [
                ("clip", "file"), ("scene", "file"), ("live", "file"),
                ("added1", "api"), ("added2", "api"),
            ]  # fmt: skip

            # DELETE answers once the worker stopped and its output is closed: it plays.
            gone = service.request("DELETE", "/streams/added1", token=TOKEN)
            assert (gone.status, gone.document) == (204, None)
            assert count_frames(layout.out / "added1.mkv") >= 15
            assert "added1" not in service.names()
            assert service.request("GET", "/streams/added1").status == 404

            # A restart: a new worker under the same name, its count going on.
            first_pid = service.stream("added2")["state"]["pid"]
            restarted = service.request("POST", "/streams/added2/restart", token=TOKEN)
            assert restarted.status == 200, restarted
            assert restarted.document["state"]["pid"] != first_pid

            # The file changes: live removed, scene changed, extra added, clip untouched.
            clip_pid = service.stream("clip")["state"]["pid"]
            scene_pid = service.stream("scene")["state"]["pid"]
            layout.write(_file_streams(
                f'name = "clip"\nsource = "{clip.as_posix()}"\nloop = true\n'
                f'output = "{(layout.out / "clip.mkv").as_posix()}"',
                f'name = "scene"\nsource = "{PACED}"\nlog_every = 5',
                f'name = "extra"\nsource = "{PACED}"',
            ))  # fmt: skip
            service.signal(signal.SIGHUP)
            wait_until(
                lambda: sorted(service.names()) == ["added2", "clip", "extra", "scene"],
                lambda: f"the reloaded set: {service.names()}",
                timeout=60,
            )
            scene = service.stream("scene")
            assert scene["settings"]["log_every"] == 5 and scene["state"]["pid"] != scene_pid
            assert service.stream("clip")["state"]["pid"] == clip_pid
            service.wait_frames("extra")
            assert 'framepipe_config_reloads_total{result="ok"} 1.0' in service.metrics()

            # A file that no longer parses changes nothing.
            layout.config.write_text("[[stream]]\nname = ")
            service.signal(signal.SIGHUP)
            wait_until(
                lambda: 'framepipe_config_reloads_total{result="error"} 1.0' in service.metrics(),
                "the failed reload counted",
                timeout=30,
            )
            assert sorted(service.names()) == ["added2", "clip", "extra", "scene"]
            clip_frames = service.frames("clip")
            service.wait_frames("clip", clip_frames + 10)  # still running

            descendants = service.descendants()
            assert service.stop() == 0, service.err.read_text()
    log = service.log_text(layout.logs)
    summary = __import__("json").loads(service.summary.read_text())
    by_name = {entry["stream"]: entry for entry in summary["streams"]}
    assert set(by_name) >= {"clip", "scene", "added2", "extra"}
    assert all(by_name[name]["ended"] == "stopped" for name in ("clip", "scene", "added2", "extra"))
    # The untouched stream: one worker, every 10th frame logged with no gap, reload or not.
    indexes = frame_indexes(log, "clip")
    assert indexes == list(range(0, 10 * len(indexes), 10)) and len(indexes) >= 3
    assert count_frames(layout.out / "clip.mkv") == by_name["clip"]["frames_processed"]
    # The deleted stream's records reached the log, to its end.
    assert re.search(r"\[added1 \d+ #\d+\] framepipe\.pipeline: pipeline end \(stopped\)", log)
    assert "reload of " in log and "added 1 (extra), removed 1 (live), restarted 1 (scene)" in log
    assert re.search(r"ERROR .* framepipe\.service: reload: .*not valid TOML", log)
    assert "api: 127.0.0.1:" in log and TOKEN not in log
    assert "the API token has" not in log  # long enough: nothing to warn about
    wait_until(lambda: all(process_ended(p.pid) for p in descendants), "no process left", 15)
    wait_until(lambda: not own_shm.left(), lambda: f"left in /dev/shm: {own_shm.left()}", 10)


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory):
    """One service, with one stream from the file, for the error answers."""
    tmp_path = tmp_path_factory.mktemp("service")
    layout = Layout(tmp_path)
    (layout.root / "elsewhere").mkdir()
    layout.write(_file_streams(f'name = "cam"\nsource = "{PACED}"'))
    # A module written here later is importable by the service: only its policy stops it.
    with Service(layout.config, tmp_path, {"PYTHONPATH": str(tmp_path)}) as service:
        service.wait_frames("cam")
        yield service, layout
        assert service.stop() == 0, service.err.read_text()


class TestErrorAnswers:
    """Every error answer of the API, over HTTP, from a running service: one line each, and
    nothing written, imported or opened for a refused change."""

    @pytest.mark.parametrize(
        ("token", "status"), [(None, 401), ("wrong", 401), (TOKEN + "x", 401)]
    )
    def test_a_change_without_the_token_is_401(self, running, token, status) -> None:
        service, _ = running
        answer = service.request("DELETE", "/streams/cam", token=token)
        assert answer.status == status and answer.headers["www-authenticate"].startswith("Bearer")
        assert "cam" in service.names()

    def test_reads_need_no_token(self, running) -> None:
        service, _ = running
        assert service.request("GET", "/streams/cam").status == 200

    def test_unknown_stream_404_and_name_in_use_409(self, running) -> None:
        service, _ = running
        assert service.request("DELETE", "/streams/nope", token=TOKEN).status == 404
        assert service.request("POST", "/streams/nope/restart", token=TOKEN).status == 404
        taken = service.request("POST", "/streams", {"name": "cam", "source": PACED}, token=TOKEN)
        assert taken.status == 409 and "\n" not in taken.document["error"]

    def test_a_body_over_64_kib_is_413_and_malformed_json_400(self, running) -> None:
        service, _ = running
        big = service.request("POST", "/streams", raw=b"{" + b" " * 70_000 + b"}", token=TOKEN)
        assert big.status == 413
        bad = service.request("POST", "/streams", raw=b'{"name": ', token=TOKEN)
        assert bad.status == 400 and "\n" not in bad.document["error"]

    @pytest.mark.parametrize(
        ("body", "words"),
        [
            ({"name": "x", "source": PACED, "output": "../x.mkv"}, "output_dir"),
            ({"name": "x", "source": PACED, "output": "/tmp/x.mkv"}, "output_dir"),
            ({"name": "x", "source": PACED, "processor": "os:system"}, "processor"),
            ({"name": "x", "source": "/etc/hostname"}, "media_dir"),
            ({"name": "x", "source": PACED, "budget_ms": -1}, "budget_ms"),
            ({"name": "x", "source": PACED, "colour": 1}, "unknown key"),
            (["not", "an", "object"], ""),
        ],
    )
    def test_a_bad_or_forbidden_stream_is_400_in_one_line(self, running, body, words) -> None:
        service, layout = running
        answer = service.request("POST", "/streams", body, token=TOKEN)
        assert answer.status == 400, answer
        assert words in answer.document["error"] and "\n" not in answer.document["error"]
        assert service.names() == ["cam"]
        assert not (layout.root / "x.mkv").exists() and not Path("/tmp/x.mkv").exists()

    def test_an_output_through_a_symlink_out_of_output_dir_is_400(self, running) -> None:
        service, layout = running
        link = layout.out / "link"
        if not link.exists():
            link.symlink_to(layout.root / "elsewhere", target_is_directory=True)
        answer = service.request(
            "POST", "/streams", {"name": "x", "source": PACED, "output": "link/x.mkv"}, token=TOKEN
        )
        assert answer.status == 400 and "output_dir" in answer.document["error"]
        assert not (layout.root / "elsewhere" / "x.mkv").exists()

    def test_a_processor_module_with_import_side_effects_is_never_imported(
        self, running
    ) -> None:
        """The API imports only what the operator named: a module that would write a marker
        when imported is refused and the marker never appears."""
        service, layout = running
        marker = layout.root / "imported"
        module = layout.root / "sneaky_processor.py"
        module.write_text(
            f"open({str(marker)!r}, 'w').close()\ndef run(frame):\n    return frame\n"
        )
        answer = service.request(
            "POST", "/streams",
            {"name": "x", "source": PACED, "processor": "sneaky_processor:run"}, token=TOKEN,
        )  # fmt: skip
        assert answer.status == 400 and "processor" in answer.document["error"]
        assert not marker.exists()

    def test_without_a_configured_token_changes_are_403_saying_how(self, tmp_path: Path) -> None:
        layout = Layout(tmp_path)
        layout.write("")
        text = layout.config.read_text().replace(
            f'api_token_file = "{layout.token.as_posix()}"\n', ""
        )
        layout.config.write_text(text)
        env = {"FRAMEPIPE_API_TOKEN": ""}
        with Service(layout.config, tmp_path, env) as service:
            answer = service.request("POST", "/streams", {"name": "a", "source": PACED})
            assert answer.status == 403
            assert "api_token_file" in answer.document["error"]
            assert "FRAMEPIPE_API_TOKEN" in answer.document["error"]
            assert service.names() == []  # a service may start with no stream
            assert service.stop() == 0

    def test_a_token_short_enough_to_guess_is_warned_about_never_shown(
        self, tmp_path: Path
    ) -> None:
        layout = Layout(tmp_path)
        layout.write("")
        layout.token.write_text("hunter2\n")
        with Service(layout.config, tmp_path) as service:
            assert service.request("GET", "/streams").status == 200
            for reloads, token in enumerate(("hunter2", "hunter22"), 1):  # the same, another
                layout.token.write_text(f"{token}\n")
                service.signal(signal.SIGHUP)
                counted = f'framepipe_config_reloads_total{{result="ok"}} {reloads}.0'
                wait_until(lambda: counted in service.metrics(), counted, timeout=30)  # noqa: B023
            assert service.stop() == 0
        log = service.log_text(layout.logs)
        warned = re.findall(r"WARNING .* the API token has (\d+) characters: one shorter", log)
        assert warned == ["7", "8"]  # at start, and for the new token only
        assert "hunter2" not in log


@pytest.mark.timeout(900)  # about 2 minutes on an idle 2-core machine
def test_200_streams_added_and_deleted_through_the_api_leave_nothing_behind(
    tmp_path: Path,
) -> None:
    """200 add/delete cycles through the API (4 streams at a time, each to its first frame)
    beside an untouched stream: the service's RSS grows by at most 20 MB, and it has the
    threads, descriptors and child processes it had after the first round."""
    layout = Layout(tmp_path)
    layout.write(_file_streams(f'name = "base"\nsource = "{PACED}"'))
    at_once, cycles = 4, 200
    with Service(layout.config, tmp_path) as service:
        service.wait_frames("base")
        base_pid = service.stream("base")["state"]["pid"]
        me = psutil.Process(service.process.pid)

        before: dict[str, int] = {}
        rss_before = 0
        for round_ in range(cycles // at_once):
            names = [f"churn-{round_}-{index}" for index in range(at_once)]
            for name in names:
                made = service.request("POST", "/streams", {"name": name, "source": PACED},
                                       token=TOKEN)  # fmt: skip
                assert made.status == 201, made
            for name in names:
                service.wait_frames(name)
            for name in names:
                assert service.request("DELETE", f"/streams/{name}", token=TOKEN).status == 204
            if round_ == 0:
                before = process_resources(me)
                rss_before = me.memory_info().rss
        after = settled_back(lambda: process_resources(me), before)
        grown = me.memory_info().rss - rss_before
        assert service.names() == ["base"]
        assert service.stream("base")["state"]["pid"] == base_pid
        assert service.stop() == 0, service.err.read_text()
    print(f"{cycles} cycles: RSS grew {grown / 2**20:.1f} MB, {after}")
    assert grown <= RSS_BOUND, f"RSS grew by {grown / 2**20:.1f} MB"
    assert os.path.getsize(service.summary) > 0
