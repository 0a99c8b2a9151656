"""Tests for the Ray engine (framepipe.streams.ray_engine): streams as actors on a local Ray
instance the module starts once (2 CPUs, a small object store), and ``--engine ray`` in a
Python where ``ray`` cannot be imported."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil
import pytest

from framepipe import PipelineConfig
from framepipe.cli import main
from framepipe.logging import configure
from framepipe.streams import StreamsHandle, run_streams, start_streams
from helpers import child_command, wait_until
from ray_helpers import RAY_FLAG_ERRORS, Records, local_ray
from streams import StreamServer
from video_files import count_frames

SHORT = "synthetic:64x48@30:2"  # 60 frames, as fast as they render
OTHER = "synthetic:32x24@30:3"  # 90 frames
PACED = "synthetic:64x48@30:30"  # with realtime: 30 s unless stopped
TWELVE_S = "synthetic:64x48@30:12"  # with realtime: 12 s
MOVING = "synthetic:160x120@30:3"  # 90 frames in which motion finds regions
SAMPLE = Path(__file__).resolve().parent.parent / "samples" / "sample.mp4"
REALTIME = PipelineConfig(realtime=True)
WAIT_S = 30.0  # actors start in a Ray instance of their own
NOTICE = re.compile(r"dropped (\d+) log records because the log queue was full \(INFO: \1\)")

pytestmark = pytest.mark.usefixtures("logs_in_tmp")


@pytest.fixture(scope="module")
def ray_instance() -> Iterator[Any]:
    """One local Ray instance for the module; the engine uses it and leaves it running."""
    with local_ray() as ray:
        yield ray


def frames(handle: StreamsHandle, name: str) -> int:
    return handle.streams[name].snapshot().frames_processed


def actor(ray: Any, stream: str) -> Any:
    """The stream's actor, found by its name (framepipe-<run>-<stream>) as an operator would."""
    names = [n for n in ray.util.list_named_actors() if n.endswith(f"-{stream}")]
    assert len(names) == 1, names
    return ray.get_actor(names[0])


@pytest.mark.local_ray
class TestStreamsAsActors:
    def test_two_streams_end_with_one_log_and_a_summary_each(
        self,
        ray_instance: Any,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """framepipe run A B --engine ray: each stream in an actor of its own, both counted
        to the end, the node named; every record in the driver's one log file; each output
        at the path the driver meant (relative to its working directory)."""
        monkeypatch.chdir(tmp_path)  # not where Ray started its workers
        code = main(["run", SHORT, OTHER, "--engine", "ray", "--name", "door", "--name", "yard",
                     "--log-dir", "logs", "--quiet", "--output", "out.avi",
                     "--summary-json", "summary.json"])  # fmt: skip
        assert code == 0
        assert count_frames(tmp_path / "out-door.avi") == 60
        assert count_frames(tmp_path / "out-yard.avi") == 90
        data = json.loads((tmp_path / "summary.json").read_text())
        door, yard = data["streams"]
        assert (door["stream"], door["frames_processed"]) == ("door", 60)
        assert (yard["stream"], yard["frames_processed"]) == ("yard", 90)
        for entry in (door, yard):
            assert entry["exit"] == 0 and entry["ended"] == "end" and entry["error"] is None
            assert entry["node"] == socket.gethostname()
            assert entry["pid"] not in (None, os.getpid())
        assert door["pid"] != yard["pid"]
        assert data["total"]["frames_processed"] == 150
        assert f"nodes: door on {socket.gethostname()}" in capsys.readouterr().out
        (log_file,) = (tmp_path / "logs").iterdir()  # one file: no per-stream logs anywhere
        text = log_file.read_text()
        for source in (SHORT, OTHER):
            assert f"pipeline start: source={source}" in text
            assert f"pipeline end (end): frames_read={60 if source == SHORT else 90}" in text

    def test_records_reach_the_driver_with_their_stream_pid_and_node(
        self, ray_instance: Any
    ) -> None:
        """run_streams(engine="ray"): an actor's records arrive in the driver's writer as
        records of their own time, stream, pid and node, in the order they were logged."""
        sink = Records()
        configure(handlers=[sink], capture_stdlib=False)
        report = run_streams(
            [SHORT], config=PipelineConfig(log_every=1), names=["door"], engine="ray"
        )
        assert report.ok
        (result,) = report.streams
        frame_records = [r for r in sink.records if getattr(r, "stream", None) == "door"]
        assert len(frame_records) >= 62  # the start, a record per frame, the end
        for record in frame_records:
            assert record.process == result.pid and record.process != os.getpid()
            assert record.__dict__["node"] == result.node == socket.gethostname()
        times = [r.created for r in frame_records]
        assert times == sorted(times) and times[0] < times[-1]
        seqs = [r.__dict__["seq"] for r in frame_records]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        assert report.log["dropped"] == 0 and result.summary.log["dropped"] == 0


    def test_one_results_file_for_every_actor_each_line_naming_its_stream(
        self, ray_instance: Any, tmp_path: Path
    ) -> None:
        """--results with --engine ray: the actors' lines reach the driver's one file, each
        naming its stream, frames in order; each stream's summary counts its own lines."""
        results, summary = tmp_path / "all.jsonl", tmp_path / "summary.json"
        code = main(["run", str(SAMPLE), MOVING, "--engine", "ray", "--name", "door",
                     "--name", "yard", "--processor", "motion", "--results", str(results),
                     "--summary-json", str(summary), "--quiet",
                     "--log-dir", str(tmp_path / "logs")])  # fmt: skip
        assert code == 0
        lines = [json.loads(line) for line in results.read_text().splitlines()]
        per_stream = Counter(line["stream"] for line in lines)
        assert set(per_stream) == {"door", "yard"}
        data = json.loads(summary.read_text())
        for entry in data["streams"]:
            name = entry["stream"]
            assert entry["results_written"] == per_stream[name] > 0
            assert entry["results_dropped"] == entry["results_errors"] == 0
            frames = [line["frame"] for line in lines if line["stream"] == name]
            assert frames == sorted(frames) and len(set(frames)) == len(frames)
            assert all(line["results"] and {"x", "y", "w", "h", "area"} <= set(line["results"][0])
                       for line in lines if line["stream"] == name)  # fmt: skip
        assert sum(entry["results_written"] for entry in data["streams"]) == len(lines)


class SlowRecords(Records):
    """A sink that takes 5 ms a record: a driver whose disk cannot keep up."""

    def emit(self, record: logging.LogRecord) -> None:
        time.sleep(0.005)
        super().emit(record)


@pytest.mark.local_ray
class TestBackpressure:
    def test_a_slow_driver_makes_the_actor_drop_and_count_but_never_wait(
        self, ray_instance: Any
    ) -> None:
        """The driver writes 200 records a second into a queue of 50: the actor's sender waits
        with a few batches unanswered, the actor's own queue fills and drops newest, counted,
        each drop a gap in the sequence numbers; every frame is processed all the same.

        The actor's writer says how many it dropped each time its queue has room again: once at
        the end, or also mid-run when the frame loop falls behind the writer for a moment (a
        busy machine). The notices together count every drop, the last one written too."""
        sink = SlowRecords()
        configure(handlers=[sink], queue_size=50, capture_stdlib=False)
        report = run_streams(
            ["synthetic:64x48@30:20"], config=PipelineConfig(log_every=1), engine="ray"
        )
        (stream,) = report.streams
        assert stream.ok and stream.summary.frames_processed == 600
        log = stream.summary.log
        assert log["overflow"] == "drop_newest" and log["queue_maxsize"] == 50
        assert log["dropped"] > 100
        assert log["accepted"] + log["dropped"] >= 602  # the start, a record a frame, the end
        records = [r for r in sink.records if r.process == stream.pid]
        seqs = [r.__dict__["seq"] for r in records if r.__dict__["seq"] > 0]
        assert len(seqs) == len(set(seqs)) == log["written"] == log["accepted"]
        notices = [r for r in records if r.__dict__["seq"] == 0]
        counts = [NOTICE.fullmatch(r.getMessage()) for r in notices]
        assert notices and all(r.name == "framepipe.logging" for r in notices)
        assert all(counts) and sum(int(c[1]) for c in counts if c) == log["dropped"]
        assert report.log["dropped"] == 0  # the driver lost nothing it was sent


@pytest.mark.local_ray
class TestWatched:
    def test_the_stats_server_shows_where_a_stream_runs_and_its_fresh_frames(
        self, ray_instance: Any
    ) -> None:
        """--stats-port over actors: /system-resources names the node, and the last frame is
        seconds old on the driver's clock (snapshots arrive at least once a second)."""
        from framepipe.monitor import StatsServer
        from framepipe.monitor.providers import Monitored
        from monitor_helpers import request

        with start_streams([PACED], config=REALTIME, names=["door"], engine="ray") as handle:
            with StatsServer(Monitored(streams=handle.streams), "127.0.0.1", 0) as server:
                wait_until(
                    lambda: frames(handle, "door") >= 30, "a second of frames", timeout=WAIT_S
                )
                nice = os.getpriority(os.PRIO_PROCESS, handle.streams["door"].pid or 0)
                time.sleep(1.5)  # at least one more snapshot
                pipeline = request(server, "/system-resources").json()["pipeline"]
                metrics = request(server, "/metrics").body.decode()
            handle.stop()
        assert nice == os.getpriority(os.PRIO_PROCESS, 0)  # not Ray's niceness 15
        assert pipeline["node"] == socket.gethostname()
        assert pipeline["state"] == "running" and pipeline["frames_processed"] >= 30
        assert 0 <= pipeline["seconds_since_last_frame"] < 1.5
        assert 'framepipe_frames_processed_total{stream="door"}' in metrics


@pytest.mark.local_ray
class TestDeadActors:
    def test_a_killed_actor_is_reported_and_a_live_one_restarted(self, ray_instance: Any) -> None:
        """ray.kill of a live stream's actor (no_restart=False): Ray restarts it, it reopens
        the stream, the attempt is in ``restarts``; a file's actor killed for good ends the
        stream 'crashed' with its last counts, as a dead local worker does.

        ffmpeg serves one client and exits when it leaves. The restarted actor's server listens
        on the same port before the kill, beside the killed actor's open connection: the killed
        actor never loses its stream before it dies (so it cannot reconnect and take the new
        server's one client), and the restarted actor finds the server however soon Ray starts
        it. While Ray restarts the actor, polls fail as "unavailable": the engine waits for the
        restarted run instead of counting the actor dead and starting a second one."""
        with (
            StreamServer() as server,
            start_streams(
                [server.url, PACED], config=REALTIME, names=["live", "scene"], engine="ray"
            ) as handle,
        ):
            wait_until(
                lambda: frames(handle, "live") >= 5, "frames from the live stream", timeout=WAIT_S
            )
            wait_until(lambda: frames(handle, "scene") >= 5, "frames of the scene", timeout=WAIT_S)
            live_pid = handle.streams["live"].pid
            assert live_pid is not None
            with StreamServer(port=server.port):  # for the restarted actor, listening already
                ray_instance.kill(actor(ray_instance, "live"), no_restart=False)
                ray_instance.kill(actor(ray_instance, "scene"))  # a file: no restarts
                wait_until(
                    lambda: handle.streams["live"].pid not in (None, live_pid),
                    "the restarted actor to start",
                    timeout=45.0,
                )
                wait_until(
                    lambda: frames(handle, "live") >= 5, "the restarted actor's frames", WAIT_S
                )
                handle.stop()
                report = handle.wait(30.0)
        assert report is not None
        live, scene = report.streams
        (attempt,) = live.restarts
        assert attempt.pid == live_pid and attempt.frames_processed >= 5
        assert attempt.error is not None and "Ray restarted it" in attempt.error
        assert live.ok and live.ended == "stopped" and live.pid not in (None, live_pid)
        assert live.node == socket.gethostname()
        assert scene.ended == "crashed" and scene.restarts == ()
        assert scene.error == "the actor died: it was killed by `ray.kill`"
        assert scene.summary.frames_processed >= 5  # from its last snapshot
        assert report.total["failed"] == 1


@pytest.mark.local_ray
class TestStopping:
    def test_sigterm_stops_every_actor_and_writes_every_summary(
        self, ray_instance: Any, tmp_path: Path
    ) -> None:
        """SIGTERM to the driver mid-run: both actors finish their frame, the summaries and
        the last records are gathered, exit 0."""
        log_dir = tmp_path / "logs"

        def terminate_once_running() -> None:
            def started() -> bool:
                files = list(log_dir.glob("*.txt"))
                return bool(files) and files[0].read_text().count("frame 30:") >= 2

            wait_until(started, "both streams' frames in the log", timeout=60.0)
            os.kill(os.getpid(), signal.SIGTERM)

        killer = threading.Thread(target=terminate_once_running, daemon=True)
        killer.start()
        code = main(["run", PACED, PACED, "--engine", "ray", "--realtime", "--quiet",
                     "--log-dir", str(log_dir),
                     "--summary-json", str(tmp_path / "summary.json")])  # fmt: skip
        killer.join(5.0)
        assert code == 0
        streams = json.loads((tmp_path / "summary.json").read_text())["streams"]
        assert [s["ended"] for s in streams] == ["stopped", "stopped"]
        assert all(s["exit"] == 0 and 30 <= s["frames_processed"] < 900 for s in streams)
        text = next(log_dir.glob("*.txt")).read_text()
        assert text.count("pipeline end (stopped)") == 2


@pytest.mark.parametrize(
    ("extra", "message"),
    RAY_FLAG_ERRORS,
)
@pytest.mark.parametrize("sources", [[SHORT], [SHORT, SHORT]], ids=["one-source", "two-sources"])
def test_a_ray_flag_that_cannot_apply_is_a_usage_error(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
    sources: list[str],
) -> None:
    """Ray's flags without --engine ray, or with a bad value: exit 2, nothing started, for one
    source as for several."""
    code = main(["run", *sources, "--log-dir", str(tmp_path / "logs"), *extra])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1] and err[-1].startswith("framepipe")
    assert not (tmp_path / "logs").exists()


@contextmanager
def paced_ray_run(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """``framepipe run`` of two paced streams with ``--engine ray`` (its own local instance),
    in a session of its own; killed with its group on the way out if it still runs."""
    command = [sys.executable, "-m", "framepipe", "run", PACED, PACED, "--engine", "ray",
               "--realtime", "--quiet", "--log-dir", "logs",
               "--summary-json", "summary.json"]  # fmt: skip
    driver = subprocess.Popen(command, cwd=tmp_path, start_new_session=True, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    try:
        yield driver
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
            driver.wait(10)


def run_log(tmp_path: Path) -> str:
    """What the run in ``tmp_path`` logged so far, every file of its log."""
    return "".join(path.read_text() for path in sorted((tmp_path / "logs").glob("*.txt")))


def progress(driver: subprocess.Popen[str], tmp_path: Path) -> str:
    """How far the run in ``tmp_path`` got, for a wait that timed out: its exit code, if it
    ended, and the last lines of its log."""
    ended = "still running" if driver.poll() is None else f"exit {driver.returncode}"
    return f"{ended}; its log ends with {run_log(tmp_path)[-1500:]!r}"


def ctrl_c_stops_both(driver: subprocess.Popen[str], tmp_path: Path) -> None:
    """Ctrl-C to the run's whole group: exit 0, and both streams stopped, in the summary and on
    stdout."""
    os.killpg(driver.pid, signal.SIGINT)
    out, err = driver.communicate(timeout=60)
    assert driver.returncode == 0, err
    streams = json.loads((tmp_path / "summary.json").read_text())["streams"]
    assert [s["ended"] for s in streams] == ["stopped", "stopped"]
    assert "stopped" in out


@pytest.mark.local_ray
def test_ctrl_c_in_a_terminal_stops_every_actor_and_leaves_no_ray_process(tmp_path: Path) -> None:
    """Ctrl-C reaches the whole foreground group (the driver and the Ray instance it started):
    every stream stops after its frame, summaries written, exit 0, no process left behind."""
    pytest.importorskip("ray")
    with paced_ray_run(tmp_path) as driver:
        wait_until(lambda: run_log(tmp_path).count(" frame 30:") >= 2,
                   lambda: f"both streams' frames in the log: {progress(driver, tmp_path)}",
                   timeout=60.0)  # fmt: skip
        children = psutil.Process(driver.pid).children(recursive=True)
        ctrl_c_stops_both(driver, tmp_path)
    _, alive = psutil.wait_procs(children, timeout=15)
    assert alive == []


def test_a_cluster_address_nobody_answers_at_fails_at_once_in_one_line(tmp_path: Path) -> None:
    """--ray-address host:port with nothing listening: exit 1 within seconds, one line (Ray
    itself would retry for minutes, printing as it goes)."""
    pytest.importorskip("ray")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{probe.getsockname()[1]}"  # bound, never listening
        result = subprocess.run(
            [sys.executable, "-m", "framepipe", "run", "synthetic", "--engine", "ray",
             "--ray-address", address, "--quiet"],
            cwd=tmp_path, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.startswith(
        f"framepipe: error: cannot join the Ray cluster at {address}: nothing answers at"
    )
    assert result.stderr.count("\n") == 1
    assert not (tmp_path / "logs").exists()  # found out before a log was created


def test_the_ray_engine_without_ray_is_a_usage_error_saying_how_to_install_it(
    tmp_path: Path,
) -> None:
    """A Python where importing ray fails: exit 2 and one line naming the extra."""
    result = subprocess.run(
        child_command("without_ray"), cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr == (
        "framepipe: error: the ray engine needs Ray, which is not installed: "
        "pip install 'framepipe[ray]'\n"
    )
    assert not (tmp_path / "logs").exists()  # refused before a log was created


@pytest.mark.local_ray
def test_a_killed_actors_restart_tells_the_cause_and_rays_own_lines_stay_off_stdout(
    tmp_path: Path,
) -> None:
    """SIGKILL of a stream's actor mid-run, with a local Ray instance the command starts: Ray's
    driver would print its raylet's "A worker died ..." on stdout, amid the summary; it goes to
    the log instead. The restart names the cause (a process killed, not an exit code 1 it never
    had), and the log never calls an actor "worker None"."""
    pytest.importorskip("ray")
    command = [sys.executable, "-m", "framepipe", "run", TWELVE_S, TWELVE_S, "--name", "a",
               "--name", "b", "--engine", "ray", "--realtime", "--restart-attempts", "2",
               "--log-dir", "logs", "--summary-json", "summary.json"]  # fmt: skip
    driver = subprocess.Popen(command, cwd=tmp_path, start_new_session=True, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    try:
        log = tmp_path / "logs"

        def actor_pid() -> int | None:
            for path in log.glob("*.txt"):
                found = re.search(r"stream a: actor pid (\d+)", path.read_text())
                if found is not None:
                    return int(found[1])
            return None

        pid = wait_until(actor_pid, lambda: f"stream a's actor: {progress(driver, tmp_path)}",
                         timeout=60.0)  # fmt: skip
        wait_until(lambda: " frame 30:" in next(log.glob("*.txt")).read_text(),
                   "stream a's frames", timeout=30.0)  # fmt: skip
        os.kill(pid, signal.SIGKILL)
        out, err = driver.communicate(timeout=120)
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
            driver.wait(10)
    assert driver.returncode == 0, err
    assert "(raylet)" not in out and "repeated" not in out, out
    text = next(log.glob("*.txt")).read_text()
    assert "worker None" not in text
    assert "ray (raylet): A worker died or was killed" in text
    a = json.loads((tmp_path / "summary.json").read_text())["streams"][0]
    (attempt,) = a["restarts"]
    assert attempt["pid"] == pid and attempt["exit"] is None
    assert attempt["error"].startswith(
        "the actor died (its process ended without a word: killed (SIGKILL, out of memory) or "
        "crashed); Ray restarted it on node "
    )


@pytest.mark.local_ray
def test_sigterm_stays_the_applications_while_ray_starts_and_stops() -> None:
    """Within sigterm_kept, ray.init installs none of Ray's SIGTERM handlers (its native one
    aborts the process, exit -6) and ray.shutdown does not leave SIGTERM at its default action:
    a SIGTERM just after either reaches the application's handler, and the process goes on."""
    pytest.importorskip("ray")
    done = subprocess.run(
        child_command("ray_sigterm_kept"), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen == {"after_init": [True, True, True], "after_shutdown": [True, True], "left": True}
    assert "SIGTERM received" not in done.stderr  # Ray's native handler's crash report


def _stall_the_first_raylet(driver: psutil.Process, started: list[psutil.Process]) -> None:
    """SIGSTOP the first raylet ``driver`` starts, before it registers with its GCS; note in
    ``started`` every process the driver started until then (the first start's)."""
    deadline = time.monotonic() + 60.0
    while time.monotonic() < deadline:
        try:
            children = driver.children()
        except psutil.NoSuchProcess:
            return
        for child in children:
            try:
                if child.name() == "raylet":
                    child.suspend()
                    started.extend(driver.children(recursive=True))
                    return
            except psutil.NoSuchProcess:
                continue
        time.sleep(0.001)


@pytest.mark.local_ray
@pytest.mark.timeout(360)  # about 50 s on an idle machine: Ray's own 30 s, then a second start
def test_a_local_ray_that_does_not_start_in_time_is_stopped_and_started_once_more(
    tmp_path: Path,
) -> None:
    """Ray gives a local instance's raylet a fixed 30 s to register with its GCS: a raylet held
    stopped runs that out (as a machine busy enough does). The processes that start left are
    stopped then and there, not when the command exits; a WARNING says so; the second start
    runs the streams, which stop at Ctrl-C as ever."""
    pytest.importorskip("ray")
    with paced_ray_run(tmp_path) as driver:
        first_start: list[psutil.Process] = []
        stall = threading.Thread(
            target=_stall_the_first_raylet, args=(psutil.Process(driver.pid), first_start)
        )
        stall.start()
        stall.join(60)
        assert any(p.name() == "raylet" for p in first_start), "no raylet was started"
        wait_until(lambda: "did not start in time" in run_log(tmp_path), "the WARNING",
                   timeout=90.0)  # fmt: skip
        _, alive = psutil.wait_procs(first_start, timeout=15)
        assert alive == [], f"the first start's processes run on: {alive}"
        assert driver.poll() is None
        wait_until(lambda: run_log(tmp_path).count(" frame 30:") >= 2, "both streams' frames",
                   timeout=90.0)  # fmt: skip
        ctrl_c_stops_both(driver, tmp_path)
    warnings = [line for line in run_log(tmp_path).splitlines() if "did not start in time" in line]
    assert len(warnings) == 1 and " WARNING " in warnings[0], warnings
    assert "timed out during startup" in warnings[0]
