"""Tests for framepipe.cli._several: ``framepipe run A B ...``, in-process and in a child process
that gets Ctrl-C or SIGTERM."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import psutil
import pytest

from framepipe.cli import main
from framepipe.pipeline.report import SUMMARY_KEYS
from helpers import wait_until
from shm_watch import SharedMemoryWatch
from streams import StreamServer
from video_files import write_video

SHORT = "synthetic:64x48@30:1"  # 30 frames, as fast as they render
PACED = "synthetic:64x48@30:30"  # with --realtime: 30 s unless stopped


def run_args(tmp_path: Path, *argv: str) -> list[str]:
    """``framepipe run`` with the log and the summary in ``tmp_path``, no progress."""
    return ["run", *argv, "--log-dir", str(tmp_path / "logs"),
            "--summary-json", str(tmp_path / "summary.json"), "--quiet"]  # fmt: skip


def summary(tmp_path: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((tmp_path / "summary.json").read_text())
    return data


_RECORD = re.compile(r" \[(?P<stream>\S+) (?P<pid>\d+) #(?P<seq>\d+)\] (?P<rest>.*)$")


def one_log(log_dir: Path) -> list[re.Match[str]]:
    """The records of the one log file in ``log_dir`` (rotated parts included), parsed."""
    assert [p.name for p in log_dir.iterdir() if p.is_dir()] == []  # no per-stream files
    text = "".join(path.read_text() for path in sorted(log_dir.glob("logs_*.txt*")))
    return [m for line in text.splitlines() if (m := _RECORD.search(line)) is not None]


def sequences(records: list[re.Match[str]]) -> dict[tuple[str, int], list[int]]:
    """Each process's sequence numbers, in file order, by (stream, pid)."""
    by_process: dict[tuple[str, int], list[int]] = {}
    for record in records:
        key = (record["stream"], int(record["pid"]))
        by_process.setdefault(key, []).append(int(record["seq"]))
    return by_process


def assert_no_gaps(records: list[re.Match[str]], parent: str = "MainProcess") -> None:
    """Every worker's records are all there: 1, 2, 3, ... with none missing or repeated. The
    parent's run on from where its earlier records left them (here: earlier tests)."""
    for (stream, pid), numbers in sequences(records).items():
        first = min(numbers) if stream == parent else 1
        assert sorted(numbers) == list(range(first, first + len(numbers))), (stream, pid)


class TestSeveralSources:
    def test_each_stream_gets_a_row_a_summary_the_total_and_its_records_in_the_one_log(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The scene, a file and a live stream: the JSON has streams (today's keys plus
        stream, pid, exit), total and the parent's log; the printed summary is a table with a
        row per stream and a total; the one log holds every stream's records, none missing."""
        clip = write_video(tmp_path / "door.avi", frames=12)
        with StreamServer() as live:
            argv = run_args(tmp_path, SHORT, str(clip), live.url, "--processor", "edges",
                            "--name", "yard", "--max-frames", "20", "--log-every", "1")  # fmt: skip
            code = main(argv)
        assert code == 0
        data = summary(tmp_path)
        assert list(data) == ["streams", "total", "log"]
        streams = data["streams"]
        assert isinstance(streams, list)
        assert [entry["stream"] for entry in streams] == ["yard", "door", "127.0.0.1"]
        for entry in streams:
            assert set(SUMMARY_KEYS) | {"stream", "pid", "exit"} <= set(entry)
            assert entry["exit"] == 0 and entry["processor"] == "edges"
        assert [entry["frames_processed"] for entry in streams] == [20, 12, 20]
        records = one_log(tmp_path / "logs")
        for entry in streams:
            frames = [r for r in records if r["stream"] == entry["stream"] and " frame " in r[0]]
            assert {int(r["pid"]) for r in frames} == {entry["pid"]}
            assert len(frames) == entry["frames_processed"]
        assert_no_gaps(records)
        assert data["total"] == {
            "frames_processed": 52,
            "fps": pytest.approx(sum(entry["fps"] for entry in streams), abs=0.03),
            "budget_misses": sum(entry["budget_misses"] for entry in streams),
            "frames_dropped": sum(entry["frames_dropped"] for entry in streams),
            "duration_s": data["total"]["duration_s"],  # type: ignore[index]
            "streams": 3,
            "failed": 0,
            "cv_threads": data["total"]["cv_threads"],  # type: ignore[index]
            "frame_ms": data["total"]["frame_ms"],  # type: ignore[index]
            "frame_age_ms": data["total"]["frame_age_ms"],  # type: ignore[index]
            "percentiles_estimated": True,  # three runs' frames merged
        }
        assert data["total"]["frame_ms"]["max"] == max(  # type: ignore[index]
            entry["frame_ms"]["max"] for entry in streams
        )
        assert data["log"]["log_file"].startswith(str(tmp_path / "logs"))  # type: ignore[index]
        table = capsys.readouterr().out.splitlines()
        assert table[0].split()[:4] == ["stream", "pid", "exit", "ended"]
        assert [row.split()[0] for row in table[1:4]] == ["yard", "door", "127.0.0.1"]
        assert table[4].split()[:2] == ["total", "52"]

    def test_every_run_flag_applies_to_every_stream(self, tmp_path: Path) -> None:
        """--max-frames, --budget-ms and --cv-threads reach each worker and its summary."""
        code = main(run_args(tmp_path, SHORT, SHORT, "--max-frames", "7", "--budget-ms", "9",
                             "--cv-threads", "1"))  # fmt: skip
        assert code == 0
        streams = summary(tmp_path)["streams"]
        assert isinstance(streams, list)
        assert [(s["frames_processed"], s["budget_ms"], s["ended"]) for s in streams] == [
            (7, 9.0, "max_frames"),
            (7, 9.0, "max_frames"),
        ]
        assert {s["cv_threads"] for s in streams} == {1}

    def test_a_failed_stream_makes_the_exit_code_1_and_says_which(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """One stream fails, the other runs to its end; one error line names the failed one."""
        junk = tmp_path / "junk.mp4"
        junk.write_bytes(b"not a video" * 100)
        code = main(run_args(tmp_path, str(junk), SHORT))
        assert code == 1
        streams = summary(tmp_path)["streams"]
        assert isinstance(streams, list)
        assert [s["exit"] for s in streams] == [1, 0]
        assert streams[1]["frames_processed"] == 30
        err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
        assert len(err) == 1
        assert err[0].startswith("framepipe: error: 1 of 2 streams failed: junk (")

    @pytest.mark.parametrize(
        ("extra", "message"),
        [
            (["--name", "a", "--name", "b", "--name", "c"], "3 names for 2 sources"),
            (["--name", "a b"], "stream name must be"),
            (["--processor", "nosuch"], "unknown processor 'nosuch'"),
            (["--cv-threads", "0"], "--cv-threads: must be a positive integer"),
            (["--restart-attempts", "-1"], "--restart-attempts: must be an integer >= 0"),
        ],
    )
    def test_a_usage_error_is_one_line_and_exit_2_before_any_worker_starts(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
    ) -> None:
        """Bad names, processors or counts: exit 2, one line, no log directory created."""
        code = main(run_args(tmp_path, SHORT, SHORT, *extra))
        assert code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("framepipe: error: ") and message in err[0]
        assert not (tmp_path / "logs").exists()

    def test_outputs_get_the_stream_names_and_must_not_overwrite_a_source(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """--output out.avi with streams a and b would write out-a.avi and out-b.avi: one of them
        being a source is a usage error."""
        source = write_video(tmp_path / "out-b.avi", frames=5)
        code = main(run_args(tmp_path, SHORT, str(source), "--name", "a", "--name", "b",
                             "--output", str(tmp_path / "out.avi")))  # fmt: skip
        assert code == 2
        assert "is the source file" in capsys.readouterr().err


BROKEN_INIT = """\
class Broken:
    def __init__(self):
        raise RuntimeError("no model")

    def __call__(self, frame):
        return frame
"""

EXITS_AT_IMPORT = """\
import sys

sys.exit(7)


class Broken:
    def __call__(self, frame):
        return frame
"""


class TestCheckedBeforeAnyWorkerStarts:
    """What a user can get wrong is found before a worker starts, as with one source."""

    def test_a_busy_stats_port_is_exit_1_and_no_worker_runs(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A port another program listens on: one line naming --stats-port, exit 1, and the
        log shows no worker started."""
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            code = main(run_args(tmp_path, SHORT, SHORT, "--stats-port", str(port)))
        assert code == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"framepipe: error: --stats-port {port}: ")
        assert not any("started (source" in record[0] for record in one_log(tmp_path / "logs"))
        assert not (tmp_path / "summary.json").exists()

    @pytest.mark.parametrize(
        ("module", "message"),
        [
            (
                BROKEN_INIT,
                "processor 'brokenplugin:Broken': Broken() failed: RuntimeError: no model",
            ),
            (
                EXITS_AT_IMPORT,
                "processor 'brokenplugin:Broken': cannot import module "
                "'brokenplugin' (it called sys.exit(7))",
            ),
        ],
        ids=["init-raises", "exits-at-import"],
    )
    def test_a_processor_that_cannot_be_built_is_exit_2_before_the_log(
        self,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
        module: str,
        message: str,
    ) -> None:
        """A class whose ``__init__`` raises, or a module calling ``sys.exit()`` as it imports:
        one line, exit 2, no log directory made."""
        plugins = tmp_path / "plugins"
        plugins.mkdir()
        (plugins / "brokenplugin.py").write_text(module)
        monkeypatch.syspath_prepend(str(plugins))
        code = main(run_args(tmp_path, SHORT, SHORT, "--processor", "brokenplugin:Broken"))
        assert code == 2
        assert capsys.readouterr().err.strip().splitlines() == [f"framepipe: error: {message}"]
        assert not (tmp_path / "logs").exists()
        sys.modules.pop("brokenplugin", None)


def test_a_stats_server_watches_every_stream_when_a_stats_port_is_given(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With a stats port (the monitor's flag), the server over every stream starts with the
    run, says where it listens, and stops with it."""
    from framepipe.cli import build_parser
    from framepipe.cli import run as run_command

    argv = run_args(tmp_path, SHORT, SHORT)
    args = build_parser(argv).parse_args(argv)
    args.stats_port, args.stats_host = 0, "127.0.0.1"
    assert run_command.run(args) == 0
    err = capsys.readouterr().err
    assert "framepipe: stats server on http://127.0.0.1:" in err
    records = one_log(tmp_path / "logs")
    assert any("stats server on http://127.0.0.1:" in r[0] for r in records)


_ADDRESS = re.compile(r"framepipe: stats server on (http://127\.0\.0\.1:\d+)/?")


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as reply:
        return str(reply.read().decode())


def test_the_stats_server_of_a_run_shows_each_stream_with_its_worker(tmp_path: Path) -> None:
    """A real two-stream run with --stats-port 0, read over HTTP: /system-resources lists both
    streams with counters that move and the pids of the run's own worker processes (with their
    memory), and /metrics labels both streams' series."""
    paced = "synthetic:160x120@30:8"
    child = subprocess.Popen(
        [sys.executable, "-m", "framepipe", "run", paced, paced, "--realtime", "--quiet",
         "--stats-port", "0", "--log-dir", str(tmp_path / "logs")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert child.stderr is not None
        line = child.stderr.readline()
        match = _ADDRESS.match(line)
        assert match, f"no address line, got {line!r}"
        url = match.group(1)

        def streams() -> list[dict[str, Any]]:
            document = json.loads(_get(url + "/system-resources"))
            return list(document.get("streams", []))

        def after(frames: list[int]) -> list[dict[str, Any]]:
            def passed() -> list[dict[str, Any]] | None:
                entries = streams()
                if len(entries) == 2 and all(
                    e["frames_processed"] > n for e, n in zip(entries, frames, strict=True)
                ):
                    return entries
                return None

            return wait_until(
                passed, lambda: f"counters to pass {frames}: {streams()}", timeout=30, interval=0.1
            )

        first = after([0, 0])
        second = after([entry["frames_processed"] + 10 for entry in first])
        workers = {process.pid for process in psutil.Process(child.pid).children(recursive=True)}
        metrics = _get(url + "/metrics")
    finally:
        if child.poll() is None:
            child.kill()
        child.communicate(timeout=30)
    names = [entry["stream"] for entry in second]
    assert len(set(names)) == 2
    for entry in second:
        assert entry["state"] == "running"
        assert entry["pid"] in workers and entry["pid"] != child.pid
        assert entry["memory_mb"] > 1 and entry["cpu_percent"] >= 0
    for name in names:
        assert f'framepipe_frames_processed_total{{stream="{name}"}}' in metrics


def _log_shows_frames(log_dir: Path, names: list[str]) -> bool:
    text = "".join(path.read_text() for path in log_dir.glob("logs_*.txt"))
    return all(f" [{name} " in text and " frame " in text for name in names)


@pytest.mark.parametrize("how", ["ctrl-c to the group", "sigterm to the parent"])
def test_a_signal_stops_every_worker_and_the_summaries_are_written(
    tmp_path: Path, how: str, own_shm: SharedMemoryWatch
) -> None:
    """Ctrl-C (SIGINT to the whole process group, as a terminal sends it) or SIGTERM to the
    parent alone: every worker stops after its frame, none is left, its processes left
    nothing in /dev/shm, the summary has both streams, the log says why, exit 0."""
    argv = run_args(tmp_path, PACED, PACED, "--realtime", "--log-every", "1", "--name", "a",
                    "--name", "b")  # fmt: skip
    child = subprocess.Popen(
        [sys.executable, "-m", "framepipe", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )

    def workers_ran() -> bool:
        if _log_shows_frames(tmp_path / "logs", ["a", "b"]):
            return True
        assert child.poll() is None, "the run ended before both workers logged a frame"
        return False

    try:
        wait_until(workers_ran, "both workers to log a frame", timeout=30)
        descendants = psutil.Process(child.pid).children(recursive=True)
        assert len(descendants) >= 2
        if how == "ctrl-c to the group":
            os.killpg(child.pid, signal.SIGINT)
        else:
            os.kill(child.pid, signal.SIGTERM)
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait(10)
    assert child.returncode == 0, err
    assert "leaked" not in err  # the resource tracker's warning for semaphores or segments
    _, still_running = psutil.wait_procs(descendants, timeout=5)
    assert still_running == []
    wait_until(lambda: not own_shm.left(), lambda: f"left in /dev/shm: {own_shm.left()}", 10)
    streams = summary(tmp_path)["streams"]
    assert isinstance(streams, list)
    assert [(s["stream"], s["ended"], s["exit"]) for s in streams] == [
        ("a", "stopped", 0),
        ("b", "stopped", 0),
    ]
    assert "total" in out.splitlines()[3]
    records = one_log(tmp_path / "logs")
    signal_name = "SIGINT" if how == "ctrl-c to the group" else "SIGTERM"
    assert any(f"stopping every stream: {signal_name} received" in r[0] for r in records)
    assert {r["stream"] for r in records} >= {"a", "b"}
    assert any("stop requested after" in r[0] for r in records if r["stream"] == "a")
    assert_no_gaps(records)  # a clean stop loses nothing


def test_ctrl_c_while_a_stream_is_still_opening_is_a_stop_not_a_failure(tmp_path: Path) -> None:
    """A camera that is down spends its time opening (here: a port that takes the connection
    and never sends a byte). Ctrl-C then stops it as it stops the others: exit 0, both
    streams ``stopped``, none failed."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"tcp://127.0.0.1:{silent.getsockname()[1]}"
        argv = run_args(tmp_path, PACED, url, "--realtime", "--name", "scene", "--name", "cam")
        child = subprocess.Popen(
            [sys.executable, "-m", "framepipe", *argv],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        )  # fmt: skip
        try:

            def opening() -> bool:
                assert child.poll() is None, "the run ended before the camera was opening"
                return _log_shows_frames(tmp_path / "logs", ["scene"])

            wait_until(opening, "the scene's frames while the camera opens", timeout=30)
            os.killpg(child.pid, signal.SIGINT)
            _, err = child.communicate(timeout=60)
        finally:
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait(10)
    assert child.returncode == 0, err
    streams = summary(tmp_path)["streams"]
    assert isinstance(streams, list)
    assert [(s["stream"], s["ended"], s["error"]) for s in streams] == [
        ("scene", "stopped", None),
        ("cam", "stopped", None),
    ]


def test_a_closed_terminal_while_the_workers_start_is_a_stop_not_their_end(tmp_path: Path) -> None:
    """SIGHUP to the whole process group (the terminal closed) the moment the workers are
    started, while their interpreters still import: the parent stops them, none dies of it."""
    argv = run_args(tmp_path, PACED, PACED, "--realtime", "--name", "a", "--name", "b")
    child = subprocess.Popen(
        [sys.executable, "-m", "framepipe", *argv],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip

    def both_started() -> bool:
        assert child.poll() is None, "the run ended before its workers started"
        logs = (tmp_path / "logs").glob("logs_*.txt")
        return sum(path.read_text().count("started (source") for path in logs) == 2

    try:
        wait_until(both_started, "both workers started", timeout=30, interval=0.001)
        os.killpg(child.pid, signal.SIGHUP)
        _, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait(10)
    assert child.returncode == 0, err
    streams = summary(tmp_path)["streams"]
    assert isinstance(streams, list)
    assert [(s["stream"], s["error"]) for s in streams] == [("a", None), ("b", None)]


class TestFailureLine:
    """The verdict under the summary: how many of the streams failed, and why."""

    @staticmethod
    def report(*errors: str | None) -> Any:
        from framepipe.pipeline.report import PipelineReport
        from framepipe.streams.report import StreamResult, StreamsReport

        unknown = PipelineReport.from_snapshot(None, source="x", processor="none")
        results = tuple(
            StreamResult(
                stream=f"s{index}",
                summary=unknown,
                pid=10 + index,
                exit=0 if error is None else 1,
                error=error,
                ended="end" if error is None else "failed",
                cv_threads=1,
            )
            for index, error in enumerate(errors)
        )
        return StreamsReport(results, 1.0, 1)

    def test_every_stream_ok_is_no_line(self) -> None:
        from framepipe.cli._several import failure_line

        assert failure_line(self.report(None, None)) is None

    def test_one_stream_is_singular(self) -> None:
        """The one stream of a Ray run: "1 of 1 stream failed", never "1 streams"."""
        from framepipe.cli._several import failure_line

        assert failure_line(self.report("gone")) == "1 of 1 stream failed: s0 (gone)"
        assert failure_line(self.report(None, "bad", "worse")) == (
            "2 of 3 streams failed: s1 (bad), s2 (worse)"
        )


def _records_by_pid(log_dir: Path, stream: str) -> Counter[int]:
    return Counter(int(r["pid"]) for r in one_log(log_dir) if r["stream"] == stream)


def test_a_stream_killed_then_restarted_counts_every_attempt_and_nulls_what_is_not_known(
    tmp_path: Path,
) -> None:
    """A looping stream with two workers, its worker killed twice (one restart): its summary's
    loops and log records count both attempts (each as of its last snapshot), /metrics never
    went down meanwhile, its workers are the job's two and how busy they were, which no
    snapshot says, is null."""
    scene, logs = "synthetic:64x48@30:1", tmp_path / "logs"
    child = subprocess.Popen(
        [sys.executable, "-m", "framepipe", "run", scene, scene, "--name", "a", "--name", "b",
         "--loop", "--realtime", "--workers", "2", "--processor", "edges",
         "--restart-attempts", "1", "--log-every", "1", "--stats-port", "0", "--quiet",
         "--log-dir", str(logs),
         "--summary-json", str(tmp_path / "summary.json")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert child.stderr is not None
        match = _ADDRESS.match(child.stderr.readline())
        assert match, "no address line"
        url = match.group(1)

        def stream_a() -> dict[str, Any]:
            document = json.loads(_get(url + "/system-resources"))
            return next(e for e in document.get("streams", []) if e["stream"] == "a")

        def processed_metric() -> float:
            found = re.search(r'framepipe_frames_processed_total\{stream="a"\} (\S+)',
                              _get(url + "/metrics"))  # fmt: skip
            return float(found.group(1)) if found else 0.0

        def kill_after(frames: int, not_pid: int | None) -> tuple[int, float]:
            def past() -> dict[str, Any] | None:
                entry = stream_a()
                running = entry["pid"] not in (None, not_pid)
                return entry if running and entry["frames_processed"] >= frames else None

            entry = wait_until(past, lambda: f"stream a past {frames} frames: {stream_a()}",
                               timeout=60, interval=0.1)  # fmt: skip
            assert entry is not None
            before = processed_metric()
            os.kill(entry["pid"], signal.SIGKILL)
            return entry["pid"], before

        first, seen = kill_after(95, None)
        second, _ = kill_after(int(seen) + 95, first)
        assert processed_metric() >= seen  # the counter went on over the restart
        wait_until(lambda: stream_a()["state"] == "ended", "stream a to end", timeout=60)
        child.send_signal(signal.SIGTERM)
        child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate(timeout=30)
    streams: list[dict[str, Any]] = summary(tmp_path)["streams"]  # type: ignore[assignment]
    a = next(e for e in streams if e["stream"] == "a")
    assert (a["restart_count"], a["ended"], a["exit"]) == (1, "crashed", -9)
    earlier = a["restarts"][0]["frames_processed"]
    later = a["frames_processed"] - earlier
    assert a["loops"] >= (earlier - 1) // 30 + (later - 1) // 30 >= 4
    assert a["workers"] == 2 and a["worker_busy"] is None
    records = _records_by_pid(logs, "a")
    assert set(records) >= {first, second}
    assert max(records[first], records[second]) < a["log"]["written"] <= sum(records.values())
