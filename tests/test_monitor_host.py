"""The server's own process: it serves the parent's figures, and never outlives or outshouts it."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import psutil
import pytest

from framepipe.monitor import serve
from helpers import child_command, process_ended, wait_until
from monitor_helpers import request, wait_for_json, watched_run


def wait_gone(pid: int) -> None:
    wait_until(lambda: process_ended(pid), f"process {pid} to end", timeout=10.0)


class TestLifecycle:
    def test_the_server_runs_in_a_child_process_that_stop_ends(self) -> None:
        """serve() starts one child; stop() ends it."""
        server = serve(port=0)
        try:
            child = psutil.Process(server.pid)
            assert child.ppid() == os.getpid()
            assert request(server, "/healthz").status == 200
        finally:
            server.stop()
        wait_gone(server.pid)

    def test_the_server_process_ends_when_its_parent_is_killed(self) -> None:
        """SIGKILL to the watched process closes the pipe, and the server exits on its own."""
        parent = subprocess.Popen(
            child_command("serve_then_wait"), stdout=subprocess.PIPE, text=True
        )
        try:
            assert parent.stdout is not None
            server_pid = int(parent.stdout.readline())
            assert psutil.pid_exists(server_pid)
            parent.kill()
            parent.wait(timeout=10)
            wait_gone(server_pid)  # the server does not outlive the process it watched
        finally:
            if parent.poll() is None:
                parent.kill()
                parent.wait(timeout=10)

    @pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGHUP], ids=["SIGINT", "SIGHUP"])
    def test_terminal_signals_are_left_to_the_watched_process(self, signum: int) -> None:
        """SIGINT (what Ctrl-C sends the whole terminal group) and SIGHUP (a closed terminal;
        a reload for a service, sent to its group) do not end the server: the same process
        still answers."""
        with serve(port=0) as server:
            pid = server.pid
            os.kill(pid, signum)
            time.sleep(0.3)
            assert request(server, "/healthz").status == 200
            assert server.pid == pid and psutil.pid_exists(pid)

    def test_a_bind_error_is_the_oserror_of_the_bind(self) -> None:
        """The child's failure to bind reaches the caller as OSError with its errno."""
        with serve(port=0) as first, pytest.raises(OSError, match="in use") as caught:
            serve(port=first.address[1])
        assert caught.value.errno is not None and caught.value.errno > 0


class TestFigures:
    def test_memory_and_cpu_are_the_watched_process_s_not_the_server_s(self) -> None:
        """memory_mb is this process's resident size, not the small server process's."""
        with watched_run() as (_, server):
            document = wait_for_json(server, "/system-resources", lambda d: True)
            ours = psutil.Process().memory_info().rss / 2**20
            theirs = psutil.Process(server.pid).memory_info().rss / 2**20
        assert document["memory_mb"] == pytest.approx(ours, rel=0.25)
        assert abs(document["memory_mb"] - ours) < abs(document["memory_mb"] - theirs)
