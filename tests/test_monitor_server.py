"""serve() and StatsServer: binding, lifecycle, and clients that never hold up anyone else."""

from __future__ import annotations

import json
import logging
import os
import selectors
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from framepipe import Pipeline
from framepipe.monitor import DEFAULT_HOST, DEFAULT_PORT, StatsServer, serve
from framepipe.monitor import server as server_module
from framepipe.typing import Frame
from helpers import process_ended, wait_until
from monitor_helpers import open_stream, read_event, request, watched_run


def monitor_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("framepipe-monitor")]


class TestBinding:
    def test_the_default_address_is_loopback_port_5000(self) -> None:
        """Nothing is exposed beyond this machine unless the caller names another host."""
        assert (DEFAULT_HOST, DEFAULT_PORT) == ("127.0.0.1", 5000)

    def test_port_zero_binds_a_free_port_on_loopback(self) -> None:
        """Port 0 asks the OS for a free port; address and url say which one."""
        with serve(port=0) as server:
            host, port = server.address
            assert host == "127.0.0.1"
            assert port > 0
            assert server.url == f"http://127.0.0.1:{port}/"
            assert request(server, "/healthz").status == 200

    def test_a_loopback_server_is_not_reachable_on_another_interface(self) -> None:
        """Connecting to this machine's outward address is refused while loopback is served."""
        outward = _outward_address()
        if outward is None:
            pytest.skip("this machine has no non-loopback IPv4 address")
        with serve(port=0) as server, pytest.raises(ConnectionRefusedError):
            socket.create_connection((outward, server.address[1]), timeout=2).close()

    def test_another_host_can_be_bound(self) -> None:
        """``host`` is honoured: 0.0.0.0 serves every interface, including loopback."""
        with serve(port=0, host="0.0.0.0") as server:
            assert server.address[0] == "0.0.0.0"
            port = server.address[1]
            with socket.create_connection(("127.0.0.1", port), timeout=5):
                pass

    def test_a_busy_port_raises_oserror(self) -> None:
        """A port already in use fails at once with the OS error, nothing left running."""
        with serve(port=0) as server, pytest.raises(OSError, match="in use"):
            serve(port=server.address[1])

    @pytest.mark.parametrize("port", [-1, 65536, 1.5, True, "5000"])
    def test_a_port_outside_0_to_65535_is_refused(self, port: object) -> None:
        """Bad ports are a ValueError naming what was given."""
        with pytest.raises(ValueError, match="port must be an integer from 0 to 65535"):
            serve(port=port)  # type: ignore[arg-type]


class TestLifecycle:
    def test_stop_closes_the_port_and_may_be_called_again(self) -> None:
        """After stop() the port refuses connections; a second stop() does nothing."""
        server = serve(port=0)
        port = server.address[1]
        server.stop()
        server.stop()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        assert "stopped" in repr(server)

    def test_stop_ends_open_streams_and_idle_connections(self) -> None:
        """Open /events and MJPEG streams and an idle keep-alive socket all end on stop()."""
        with watched_run() as (_, server):
            idle = socket.create_connection(server.address, timeout=5)
            with open_stream(server, "/events") as events, open_stream(server, "/stream.mjpg"):
                read_event(events)
                assert monitor_threads()
                server.stop()
                assert events.read() is not None  # the stream ends instead of hanging
            assert idle.recv(1) == b""  # the server closed its side
            idle.close()
        wait_until(
            lambda: not monitor_threads(), lambda: f"no monitor threads: {monitor_threads()}", 5.0
        )

    def test_leaving_the_with_block_stops_the_server(self) -> None:
        """The context manager stops the server on the way out, also after an exception."""
        port = 0
        try:
            with serve(port=0) as server:
                port = server.address[1]
                raise RuntimeError("boom")
        except RuntimeError:
            pass
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()


class TestSlowClients:
    def test_clients_that_stall_do_not_hold_up_the_others(self) -> None:
        """A half-sent request and an MJPEG reader that never reads leave other clients served."""
        with watched_run() as (run, server):
            half = socket.create_connection(server.address, timeout=5)
            half.sendall(b"GET /system-reso")  # and nothing more
            stalled = socket.create_connection(server.address, timeout=5)
            stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            stalled.sendall(b"GET /stream.mjpg HTTP/1.1\r\nHost: localhost\r\n\r\n")  # never read
            try:
                before = run.frames_processed
                for _ in range(20):
                    assert request(server, "/system-resources").status == 200
                    assert request(server, "/frame.jpg").status == 200
                run.wait_for_frames(before + 10)
            finally:
                half.close()
                stalled.close()


# Processor outputs that pass the pipeline but cannot be shown as a JPEG.
UNSHOWABLE: dict[str, Callable[[Frame], object]] = {
    "two-channel float": lambda frame: np.zeros((48, 64, 2), np.float32),
    "empty array": lambda frame: np.zeros((0, 0, 3), np.uint8),
    "five channels": lambda frame: np.zeros((48, 64, 5), np.uint8),
    "a string": lambda frame: "not a frame",
}


@contextmanager
def pipeline_run(processor: Callable[[Frame], object]) -> Iterator[Pipeline]:
    """A real pipeline on a paced synthetic scene, run on a thread and stopped on the way out."""
    # Outputs that are no frame pass the pipeline, which is the point here.
    pipeline = Pipeline("synthetic:64x48@30:900", processor=processor, realtime=True)  # type: ignore[arg-type]
    thread = threading.Thread(target=pipeline.run, name="pipeline-run", daemon=True)
    thread.start()
    try:
        wait_until(lambda: pipeline.snapshot().frames_processed >= 3, "three frames processed")
        yield pipeline
    finally:
        pipeline.stop()
        thread.join(timeout=20)


def _answers_healthz(server: StatsServer) -> bool:
    try:
        return request(server, "/healthz").status == 200
    except OSError:
        return False


def _preview_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "framepipe.monitor" and "JPEG" in r.getMessage()]


@pytest.mark.usefixtures("logs_in_tmp")
class TestFaults:
    @pytest.mark.parametrize("kind", list(UNSHOWABLE))
    def test_a_frame_that_cannot_be_shown_is_an_error_answer_and_serving_goes_on(
        self, kind: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        """/frame.jpg of a frame that is no image answers 500 with the reason, as many times as
        asked, logged once; every endpoint keeps answering."""
        caplog.set_level(logging.WARNING, logger="framepipe.monitor")
        with pipeline_run(UNSHOWABLE[kind]) as pipeline, serve(port=0, pipeline=pipeline) as server:
            for _ in range(3):
                answer = request(server, "/frame.jpg")
                assert answer.status == 500, answer
                assert "cannot be shown as JPEG" in answer.json()["error"]
                assert request(server, "/healthz").status == 200
                assert request(server, "/system-resources").status == 200
            assert pipeline.snapshot().state == "running"
        assert len(_preview_warnings(caplog)) == 1, caplog.records

    def test_an_mjpeg_stream_of_such_frames_is_an_error_answer(self) -> None:
        """/stream.mjpg says why there is no picture instead of an endless empty stream."""
        with pipeline_run(UNSHOWABLE["five channels"]) as pipeline, serve(
            port=0, pipeline=pipeline
        ) as server:
            with open_stream(server, "/stream.mjpg") as stream:
                assert stream.status == 500
                body = stream.read()
            assert b"cannot be shown as JPEG" in body
            assert request(server, "/healthz").status == 200

    def test_a_killed_server_process_is_logged_and_restarted_on_the_same_port(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """SIGKILL of the server's process mid-run: an ERROR says so, and a new process serves
        the same address, with the run's frames."""
        caplog.set_level(logging.WARNING, logger="framepipe.monitor")
        with pipeline_run(lambda frame: frame) as pipeline, serve(
            port=0, pipeline=pipeline
        ) as server:
            address, killed = server.address, server.pid
            os.kill(killed, signal.SIGKILL)
            wait_until(lambda: process_ended(killed), "the server process to end")
            wait_until(lambda: server.pid != killed and _answers_healthz(server),
                       "a new server process answering /healthz", timeout=20)  # fmt: skip
            assert server.address == address
            answer = request(server, "/system-resources")
            assert answer.status == 200 and answer.json()["pipeline"]["frames_processed"] > 0
            assert request(server, "/frame.jpg").status == 200
        errors = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert errors and str(killed) in errors[0].getMessage(), caplog.records

    def test_a_server_process_that_keeps_dying_is_given_up_on_and_says_so(
        self, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """After the last restart allowed dies too, an ERROR says monitoring is off, the port
        stays closed, and stop() still ends everything."""
        monkeypatch.setattr(server_module, "MAX_RESTARTS", 1)
        monkeypatch.setattr(server_module, "RESTART_BACKOFF_S", 0.05)
        caplog.set_level(logging.WARNING, logger="framepipe.monitor")
        with pipeline_run(lambda frame: frame) as pipeline, serve(
            port=0, pipeline=pipeline
        ) as server:
            first = server.pid
            os.kill(first, signal.SIGKILL)
            wait_until(lambda: server.pid != first and _answers_healthz(server),
                       "the one restart allowed", timeout=20)  # fmt: skip
            os.kill(server.pid, signal.SIGKILL)
            wait_until(lambda: any("not restarted again" in r.getMessage() for r in caplog.records),
                       lambda: f"the give-up ERROR: {caplog.records}", timeout=20)  # fmt: skip
            assert not _answers_healthz(server)
        wait_until(
            lambda: not monitor_threads(), lambda: f"no monitor threads: {monitor_threads()}"
        )


def _outward_address() -> str | None:
    """This machine's IPv4 address on its default route (no packet is sent), if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: routing only, nothing is sent
        except OSError:
            return None
        address: str = probe.getsockname()[0]
    return None if address.startswith("127.") else address


class TestManyClients:
    @pytest.mark.alone  # the kernel's listen counters are the machine's: no other test beside
    def test_a_burst_of_200_connections_waits_in_the_listen_queue_and_is_all_answered(
        self,
    ) -> None:
        """A burst of connections waits in the listen queue instead of being turned away: the
        kernel counts no connection dropped at a full queue (which a client would only see as
        a retry a second or more later), and every request is answered.

        One thread drives all 200 sockets (non-blocking, through a selector).
        """
        before = _listen_drops()
        with serve(port=0) as server:
            request_bytes = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
            selector = selectors.DefaultSelector()
            replies: dict[socket.socket, bytearray] = {}
            answered: list[float] = []
            started = time.monotonic()
            for _ in range(200):
                sock = socket.socket()
                sock.setblocking(False)
                sock.connect_ex(server.address)
                replies[sock] = bytearray()
                selector.register(sock, selectors.EVENT_WRITE)
            deadline = started + 30
            while len(answered) < 200 and time.monotonic() < deadline:
                for key, events in selector.select(timeout=1.0):
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    if events & selectors.EVENT_WRITE:
                        sock.sendall(request_bytes)
                        selector.modify(sock, selectors.EVENT_READ)
                        continue
                    chunk = sock.recv(4096)
                    if chunk:
                        replies[sock] += chunk
                        continue
                    answered.append(time.monotonic() - started)
                    selector.unregister(sock)
                    sock.close()
            for sock in list(selector.get_map().values()):
                sock.fileobj.close()  # type: ignore[union-attr]
            selector.close()
        assert len(answered) == 200
        assert all(bytes(reply).startswith(b"HTTP/1.1 200") for reply in replies.values())
        assert _listen_drops() == before, "connections dropped at a full listen queue"


def _listen_drops() -> dict[str, int]:
    """The kernel's counts of connections refused at a full listen queue (TcpExt)."""
    lines = Path("/proc/net/netstat").read_text().splitlines()
    names, values = next(
        (head.split()[1:], row.split()[1:])
        for head, row in zip(lines[::2], lines[1::2], strict=True)
        if head.startswith("TcpExt:")
    )
    counts = dict(zip(names, map(int, values), strict=True))
    return {name: counts[name] for name in ("ListenOverflows", "ListenDrops")}


class TestTheEnd:
    def test_an_open_event_stream_receives_the_final_reading_then_ends(self) -> None:
        """stop() publishes the run's last state and the page hears it as an ``end`` event
        before the server goes, then the stream closes."""
        pipeline = Pipeline("synthetic:32x32@30:1", processor="none")
        server = serve(port=0, pipeline=pipeline)
        try:
            with open_stream(server, "/events") as events:
                read_event(events)
                report = pipeline.run()
                server.stop()
                rest = events.read().decode()
        finally:
            server.stop()
        assert "event: end\n" in rest
        final = json.loads(rest.split("event: end\ndata: ", 1)[1].split("\n", 1)[0])
        assert final["pipeline"]["state"] == "ended"
        assert final["pipeline"]["frames_processed"] == report.frames_processed == 30


class TestSeveralStreamsFrames:
    @pytest.mark.parametrize("path", ["/frame.jpg", "/stream.mjpg"])
    def test_the_single_frame_urls_answer_404_at_once_naming_the_streams(self, path: str) -> None:
        """No hanging multipart stream and no "no frame yet" for the whole run."""
        with watched_run() as (run, _), serve(port=0, streams={"a": run, "b": run}) as server:
            reply = request(server, path)  # an endless multipart answer would time out here
        assert reply.status == 404
        assert reply.json()["streams"] == ["a", "b"]


class TestHistory:
    def test_a_page_opened_mid_run_gets_the_points_since_the_server_started(self) -> None:
        """One chart point a second, oldest first, with the stream's FPS and frame times."""
        with watched_run() as (run, server):
            run.wait_for_frames(10)
            wait_until(lambda: len(request(server, "/history").json()) >= 3, "3 points", 20)
            points = request(server, "/history").json()
        assert points[-1]["pipeline"]["fps"] > 0
        assert points[-1]["pipeline"]["budget_ms"] > 0
        assert {"memory_mb", "cpu_percent", "queue_size", "queue_maxsize"} <= set(points[-1])
