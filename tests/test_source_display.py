"""A camera's password is opened with, never shown: real runs of a stream whose URL holds one.

The source is opened with its password (an HTTP server that asks for it), and then shown with
``***`` in its place everywhere text leaves the process: stdout, stderr, the log file, the summary
JSON, the stats server's ``/system-resources`` and ``/metrics``, errors and ``serve --check``.
"""

from __future__ import annotations

import base64
import http.server
import json
import re
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from framepipe.bench.workload import Workload
from framepipe.pipeline.sources import SourceError, open_source
from helpers import wait_until
from streams import StreamServer
from video_files import write_mpegts

SECRET = "hunter2"
_STATS_URL = re.compile(r"stats server on (http://127\.0\.0\.1:\d+)/?")


class _AuthServer(http.server.ThreadingHTTPServer):
    """Serves one MPEG-TS clip over HTTP to a client that gives ``user:SECRET`` (Basic auth),
    and counts the requests it let through."""

    daemon_threads = True

    def __init__(self, clip: bytes) -> None:
        super().__init__(("127.0.0.1", 0), _AuthHandler)
        self.clip = clip
        self.allowed = 0
        self.expected = "Basic " + base64.b64encode(f"user:{SECRET}".encode()).decode()


class _AuthHandler(http.server.BaseHTTPRequestHandler):
    server: _AuthServer

    def do_GET(self) -> None:
        if self.headers.get("Authorization") != self.server.expected:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="camera"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.server.allowed += 1
        self.send_response(200)
        self.send_header("Content-Type", "video/mp2t")
        self.send_header("Content-Length", str(len(self.server.clip)))
        self.end_headers()
        self.wfile.write(self.server.clip)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the test's output stays its own


@contextmanager
def _auth_server(tmp_path: Path) -> Iterator[_AuthServer]:
    server = _AuthServer(write_mpegts(tmp_path / "clip.ts").read_bytes())
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def test_the_source_opens_and_reopens_with_its_password_and_is_named_without(
    tmp_path: Path,
) -> None:
    """OpenCV gets the URL as given (the server lets it in only with the password), for a
    reconnect too; the source's name, its repr and the error of a wrong password hide it."""
    with _auth_server(tmp_path) as server:
        url = f"http://user:{SECRET}@127.0.0.1:{server.server_port}/clip.ts"
        source = open_source(url, open_timeout_s=10)
        try:
            assert source.read() is not None
            assert source.info.name == f"http://user:***@127.0.0.1:{server.server_port}/clip.ts"
            assert SECRET not in repr(source)
            again = source.reopen(open_timeout_s=10)
            again.release()
        finally:
            source.release()
        assert server.allowed == 2
        wrong = url.replace(SECRET, "hunter3")
        with pytest.raises(SourceError) as raised:
            open_source(wrong, open_timeout_s=5)
        assert "hunter3" not in str(raised.value) and "user:***@" in str(raised.value)
        assert server.allowed == 2


def test_a_source_error_hides_the_password_whoever_raised_it() -> None:
    error = SourceError(f"cannot open stream rtsp://admin:{SECRET}@10.0.0.5/stream1")
    assert str(error) == "cannot open stream rtsp://admin:***@10.0.0.5/stream1"
    assert SECRET not in repr(error)


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as reply:
        return str(reply.read().decode())


def _stats_url(process: subprocess.Popen[str], seen: list[str]) -> str:
    """The stats server's address, from the first lines of ``process``'s stderr (kept)."""
    assert process.stderr is not None
    for line in process.stderr:
        seen.append(line)
        match = _STATS_URL.search(line)
        if match:
            return match.group(1)
    raise AssertionError(f"no stats address in: {seen}")


def _while_running(url: str, frames: Any) -> list[str]:
    """``/system-resources`` once ``frames(document)`` says frames moved, and ``/metrics``."""
    document = wait_until(
        lambda: (text := _get(url + "/system-resources")) and frames(json.loads(text)) and text,
        "frames to be processed",
        timeout=30,
        interval=0.1,
    )
    return [document, _get(url + "/metrics")]


def _shown_everywhere(texts: list[str], shown: str) -> None:
    assert all(SECRET not in text for text in texts), [t for t in texts if SECRET in t]
    assert any(shown in text for text in texts)  # the source is shown, its password not


def _run(
    args: list[str], tmp_path: Path, frames: Callable[[Any], bool], then: Callable[[], None]
) -> tuple[int, list[str], list[str]]:
    """``framepipe run ARGS`` with a stats server, a summary and a log; ``then()`` once frames
    moved. Its exit code, what the stats server said while it ran, and everything it wrote
    (stdout, stderr, the summary JSON and the log)."""
    summary, logs = tmp_path / "summary.json", tmp_path / "logs"
    process = subprocess.Popen(
        [sys.executable, "-m", "framepipe", "run", *args, "--stats-port", "0",
         "--summary-json", str(summary), "--log-dir", str(logs)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    stderr: list[str] = []
    try:
        served = _while_running(_stats_url(process, stderr), frames)
        then()
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=30)
    written = [out, "".join(stderr) + err, summary.read_text(encoding="utf-8")]
    written += [path.read_text(encoding="utf-8") for path in logs.iterdir()]
    return process.returncode, served, written


def test_a_run_of_a_stream_shows_its_source_without_the_password(tmp_path: Path) -> None:
    """One stream, in this process: the start line, the stats server while it runs, then the
    stream drops (its server killed), a reconnect fails, and the run ends with exit 1: the
    reconnect lines, the error, the summary table and its JSON name the source without it."""
    with StreamServer() as server:
        url = f"tcp://user:{SECRET}@127.0.0.1:{server.port}"
        code, served, written = _run(
            [url, "--reconnect-attempts", "1", "--reconnect-max-s", "0.5",
             "--stall-timeout-s", "2"],
            tmp_path,
            lambda document: document["pipeline"]["frames_processed"] > 5,
            server.kill,
        )  # fmt: skip
    shown = f"tcp://user:***@127.0.0.1:{server.port}"
    assert code == 1, written[1]
    _shown_everywhere(served, shown)
    _shown_everywhere(written, shown)
    out, err, summary, log = written
    assert json.loads(summary)["source"] == shown
    assert f"source      {shown}" in out
    assert f"pipeline start: source={shown}" in log and "reconnect attempt 1 failed" in log
    assert shown in err


def test_several_streams_show_their_sources_without_the_password(tmp_path: Path) -> None:
    """Two streams, a worker process each: the supervisor's lines, the stats server's streams,
    the summary table and its JSON."""
    with StreamServer() as server:
        url = f"tcp://user:{SECRET}@127.0.0.1:{server.port}"
        code, served, written = _run(
            [url, "synthetic:160x120@30:1", "--name", "door", "--reconnect-attempts", "0"],
            tmp_path,
            lambda document: any(
                entry["stream"] == "door" and entry["frames_processed"] > 5
                for entry in document["streams"]
            ),
            server.kill,
        )
    shown = f"tcp://user:***@127.0.0.1:{server.port}"
    assert code == 1, written[1]
    _shown_everywhere(served, shown)
    _shown_everywhere(written, shown)
    summary, log = written[2:]
    (door,) = [entry for entry in json.loads(summary)["streams"] if entry["stream"] == "door"]
    assert door["source"] == shown
    assert f"started (source {shown})" in log


def test_a_stream_that_does_not_open_says_so_without_the_password(tmp_path: Path) -> None:
    url = f"rtsp://user:{SECRET}@127.0.0.1:1/live?channel=1&token=t0ken"
    done = subprocess.run(
        [sys.executable, "-m", "framepipe", "run", url, "--log-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    assert SECRET not in done.stderr + done.stdout and "t0ken" not in done.stderr
    assert "rtsp://user:***@127.0.0.1:1/live?channel=1&token=***" in done.stderr


def test_serve_check_lists_a_stream_without_its_password(tmp_path: Path) -> None:
    config = tmp_path / "cameras.toml"
    config.write_text(
        f'[[stream]]\nname = "door"\nsource = "rtsp://admin:{SECRET}@10.0.0.5/stream1"\n',
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, "-m", "framepipe", "serve", "--config", str(config), "--check"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert SECRET not in done.stdout + done.stderr
    assert done.stdout.splitlines()[1].split()[:3] == [
        "door", "stream", "rtsp://admin:***@10.0.0.5/stream1"
    ]  # fmt: skip


def test_a_benchmark_names_its_source_without_the_password() -> None:
    with StreamServer() as server:
        workload = Workload.load(f"tcp://user:{SECRET}@127.0.0.1:{server.port}", "edges", 2)
    assert workload.source == f"tcp://user:***@127.0.0.1:{server.port}"
    assert len(workload.frames) == 2
