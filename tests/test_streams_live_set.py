"""Tests for framepipe.streams._live_set: streams added, removed, restarted and listed while a
set runs, in real worker processes."""

from __future__ import annotations

import signal
import threading
import urllib.request
from pathlib import Path

import cv2
import pytest

from faulty_processors import STUCK_MARKER_ENV
from framepipe import PipelineConfig
from framepipe.monitor import serve
from framepipe.streams import StreamsHandle, start_streams
from framepipe.streams._live_set import LiveSetSupervisor
from framepipe.streams.stream_set import (
    StreamNameInUse,
    StreamSetClosed,
    StreamState,
    UnknownStream,
)
from helpers import process_ended, wait_until

PACED = "synthetic:64x48@30:60"  # with realtime=True: a minute unless stopped
SHORT = "synthetic:64x48@30:1"  # 30 frames, as fast as they go
REALTIME = PipelineConfig(realtime=True)
WAIT_S = 30.0  # workers start in fresh interpreters, on a machine that may be busy

pytestmark = pytest.mark.usefixtures("logs_in_tmp")


def frames(handle: StreamsHandle, name: str) -> int:
    return handle.streams[name].snapshot().frames_processed


def wait_frames(handle: StreamsHandle, name: str, count: int) -> None:
    wait_until(
        lambda: name in handle.streams and frames(handle, name) >= count,
        lambda: f"{count} frames on {name}: {handle.snapshot()}",
        timeout=WAIT_S,
        interval=0.05,
    )


def supervisor_of(handle: StreamsHandle) -> LiveSetSupervisor:
    supervisor = handle._supervisor
    assert isinstance(supervisor, LiveSetSupervisor)
    return supervisor


def count_frames(path: Path) -> int:
    capture = cv2.VideoCapture(str(path))
    try:
        count = 0
        while capture.read()[0]:
            count += 1
        return count
    finally:
        capture.release()


class TestAdding:
    def test_a_service_starts_empty_and_takes_its_first_stream_later(self) -> None:
        """A service may start with no stream (all are added through its API); a set that is
        not a service still needs one."""
        with pytest.raises(ValueError, match="non-empty"):
            start_streams([])
        with start_streams([], service=True) as handle:
            assert handle.names == () and handle.list_streams() == ()
            handle.add_stream("late", SHORT)
            wait_until(
                lambda: handle.list_streams()[0].state == "ended",
                lambda: f"the added stream ends: {handle.list_streams()}",
                timeout=WAIT_S,
            )
            assert handle.wait(0.5) is None  # a service runs until stopped
        report = handle.wait(0)
        assert report is not None
        assert [(r.stream, r.ok, r.frames_processed) for r in report.streams] == [
            ("late", True, 30)
        ]

    def test_two_streams_added_to_a_running_set_run_beside_the_first(self) -> None:
        """Each add answers the new stream's state at once; both process frames while the
        first goes on, and the views, the list and the snapshots follow them."""
        with start_streams([PACED], config=REALTIME, names=["base"], service=True) as handle:
            wait_frames(handle, "base", 3)
            added = [
                handle.add_stream("one", PACED, config=REALTIME),
                handle.add_stream("two", PACED, "edges", config=REALTIME),
            ]
            assert [state.name for state in added] == ["one", "two"]
            assert all(isinstance(state, StreamState) and state.pid for state in added)
            assert list(handle.streams) == ["base", "one", "two"]
            wait_frames(handle, "one", 3)
            wait_frames(handle, "two", 3)
            states = handle.list_streams()
            assert [(s.name, s.state) for s in states] == [
                ("base", "running"), ("one", "running"), ("two", "running"),
            ]  # fmt: skip
            assert set(handle.snapshot()) == {"base", "one", "two"}
            handle.stop()
            report = handle.wait(WAIT_S)
        assert report is not None and report.ok
        assert [result.stream for result in report.streams] == ["base", "one", "two"]

    def test_a_name_in_use_is_refused_with_its_own_error(self) -> None:
        """A second stream of the same name is StreamNameInUse, and the first runs on."""
        with start_streams([PACED], config=REALTIME, names=["cam"], service=True) as handle:
            wait_frames(handle, "cam", 1)
            pid = handle.streams["cam"].pid
            with pytest.raises(StreamNameInUse, match="a stream named 'cam' is in the set"):
                handle.add_stream("cam", SHORT)
            assert list(handle.streams) == ["cam"] and handle.streams["cam"].pid == pid

    def test_a_bad_name_or_processor_is_refused_before_anything_starts(self) -> None:
        """The checks of start_streams: ValueError, and the set is unchanged."""
        with start_streams([PACED], config=REALTIME, names=["cam"], service=True) as handle:
            with pytest.raises(ValueError, match="name"):
                handle.add_stream("../up", SHORT)
            with pytest.raises(ValueError, match="processor"):
                handle.add_stream("ok", SHORT, processor="no-such-processor")
            assert list(handle.streams) == ["cam"]


class TestRemoving:
    def test_a_removed_stream_ends_cleanly_with_its_output_and_records(
        self, tmp_path: Path
    ) -> None:
        """Removal returns once the worker has ended: the result handed back says stopped, the
        output plays with every processed frame, the stream's records are in the one log, and
        the supervisor keeps nothing of it."""
        from framepipe.logging import configure

        log = configure(log_dir=tmp_path / "log")
        output = tmp_path / "gone.mp4"
        with start_streams([PACED], config=REALTIME, names=["stays"], service=True) as handle:
            config = PipelineConfig(realtime=True, output=str(output), log_every=5)
            handle.add_stream("gone", PACED, config=config)
            wait_frames(handle, "gone", 12)
            result = handle.remove_stream("gone")
            assert result.stream == "gone" and result.ok and result.ended == "stopped"
            processed = result.summary.frames_processed
            assert processed >= 12 and count_frames(output) == processed  # closed, playable
            assert result.pid is not None and process_ended(result.pid)
            assert list(handle.streams) == ["stays"]
            assert [state.name for state in handle.list_streams()] == ["stays"]
            supervisor = supervisor_of(handle)
            assert list(supervisor._streams) == ["stays"]
            assert not supervisor._removing and not supervisor._stop_asked
            stays = frames(handle, "stays")
            wait_frames(handle, "stays", stays + 3)  # untouched
        log.flush()
        (log_file,) = (tmp_path / "log").iterdir()
        lines = log_file.read_text().splitlines()
        tag = f"[gone {result.pid} #"
        logged = [
            line.split(" frame ")[1].split(":")[0]
            for line in lines
            if tag in line and " frame " in line
        ]
        assert logged[:3] == ["0", "5", "10"]
        assert any("stream gone: removed" in line for line in lines)

    def test_an_unknown_name_is_refused_with_its_own_error(self) -> None:
        with start_streams([PACED], config=REALTIME, names=["cam"], service=True) as handle:
            with pytest.raises(UnknownStream, match="no stream named 'nope'"):
                handle.remove_stream("nope")
            with pytest.raises(UnknownStream, match="no stream named 'nope'"):
                handle.restart_stream("nope")

    def test_a_stuck_worker_is_killed_after_the_stop_timeout(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A frame that never finishes: the removal kills the worker after the stop timeout and
        its result says so; the other stream runs on."""
        marker = tmp_path / "stuck"
        monkeypatch.setenv(STUCK_MARKER_ENV, str(marker))  # the spawned worker inherits it
        with start_streams(
            [PACED], config=REALTIME, names=["other"], service=True, stop_timeout_s=1.0
        ) as handle:
            handle.add_stream("stuck", PACED, "faulty_processors:stuck", config=REALTIME)
            wait_until(marker.exists, "the worker inside its stuck frame", timeout=WAIT_S)
            pid = handle.streams["stuck"].pid
            result = handle.remove_stream("stuck")
            assert result.error == "did not stop within 1 s, killed"
            assert result.exit == -signal.SIGKILL
            assert pid is not None and process_ended(pid)
            other = frames(handle, "other")
            wait_frames(handle, "other", other + 3)

    def test_a_stream_removed_while_its_worker_starts_ends_stopped(self) -> None:
        """Removed before its worker has even imported framepipe: the stop waits in its pipe,
        the run ends stopped with no frame, and no process is left."""
        with start_streams([PACED], config=REALTIME, names=["base"], service=True) as handle:
            state = handle.add_stream("early", PACED, config=REALTIME)
            assert state.state == "starting"
            result = handle.remove_stream("early")
            assert result.ok and result.ended == "stopped"
            assert result.pid == state.pid and state.pid is not None
            assert process_ended(state.pid)
            assert list(handle.streams) == ["base"]


class TestRestarting:
    def test_a_restarted_stream_gets_a_new_worker_and_its_counters_go_on(self) -> None:
        """Stop and start under the same name: a new process, and the frame count read all the
        while never goes back; the other stream keeps its worker."""
        with start_streams([PACED, PACED], config=REALTIME, names=["a", "b"], service=True) as (
            handle
        ):
            wait_frames(handle, "a", 10)
            old_pid, b_pid = handle.streams["a"].pid, handle.streams["b"].pid
            seen: list[int] = []
            done = threading.Event()

            def watch() -> None:
                while not done.is_set():
                    seen.append(frames(handle, "a"))
                    done.wait(0.005)

            watcher = threading.Thread(target=watch)
            watcher.start()
            try:
                state = handle.restart_stream("a")
                before = max(seen)
                wait_frames(handle, "a", before + 5)
            finally:
                done.set()
                watcher.join(5.0)
            assert state.name == "a" and state.pid not in (None, old_pid)
            assert old_pid is not None and process_ended(old_pid)
            assert seen == sorted(seen), "a frame counter went back"
            assert state.restart_count == 0  # asked for, not a failure
            assert handle.streams["b"].pid == b_pid
            handle.stop()
            report = handle.wait(WAIT_S)
        assert report is not None
        a, _ = report.streams
        assert a.ok and a.summary.frames_processed >= before + 5

    def test_an_ended_file_stream_stays_listed_and_restarts_from_its_count(self) -> None:
        """In service mode a stream that ended stays (``ended``) and the set runs on; a restart
        runs it again, its count going on."""
        with start_streams([SHORT], names=["clip"], service=True) as handle:
            wait_until(lambda: handle.list_streams()[0].state == "ended", "the clip's end", WAIT_S)
            assert handle.wait(0.5) is None  # the set runs on
            assert frames(handle, "clip") == 30
            handle.restart_stream("clip")
            wait_until(
                lambda: handle.list_streams()[0].state == "ended" and frames(handle, "clip") == 60,
                lambda: f"the clip's second end: {handle.list_streams()}",
                WAIT_S,
            )
            handle.stop()
            report = handle.wait(WAIT_S)
        assert report is not None and report.ok
        assert report.streams[0].summary.frames_processed == 60


class TestStopping:
    def test_a_stopped_set_takes_no_more_changes(self) -> None:
        handle = start_streams([SHORT], names=["clip"], service=True)
        handle.stop()
        assert handle.wait(WAIT_S) is not None
        with pytest.raises(StreamSetClosed, match="has ended"):
            handle.add_stream("late", SHORT)
        with pytest.raises(StreamSetClosed):
            handle.list_streams()


class TestMonitoring:
    def test_the_stats_server_follows_streams_as_they_come_and_go(self) -> None:
        """/metrics over real HTTP: an added stream gets its series, a removed one loses them."""
        with (
            start_streams([PACED], config=REALTIME, names=["base"], service=True) as handle,
            serve(0, streams=handle.streams) as server,
        ):
            handle.add_stream("extra", PACED, config=REALTIME)
            wait_frames(handle, "extra", 3)

            def metrics() -> str:
                with urllib.request.urlopen(server.url + "metrics", timeout=10) as reply:
                    return str(reply.read().decode())

            series = 'framepipe_frames_processed_total{stream="extra"}'
            wait_until(lambda: series in metrics(), "the added stream's series", WAIT_S)
            handle.remove_stream("extra")
            wait_until(lambda: series not in metrics(), "its series to go", WAIT_S)
            assert 'framepipe_frames_processed_total{stream="base"}' in metrics()
