"""``framepipe run --stats-*``: the stats server as a user starts it from the command line."""

from __future__ import annotations

import io
import logging
import re
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from framepipe.cli import main
from framepipe.logging import configure

FRAMEPIPE = str(Path(sys.executable).with_name("framepipe"))
URL = re.compile(r"stats server on (http://\S+/)")


@contextmanager
def running(tmp_path: Path, *args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``framepipe run`` paced in real time, and the stats URL it printed."""
    process = subprocess.Popen(
        [FRAMEPIPE, "run", "--quiet", "--realtime", "--log-dir", str(tmp_path / "logs"),
         "--stats-port", "0", *args],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert process.stderr is not None
        lines = []
        for line in process.stderr:
            lines.append(line)
            match = URL.search(line)
            if match:
                yield process, match.group(1)
                break
        else:
            raise AssertionError(f"no stats URL in: {lines}")
    finally:
        process.kill()
        process.wait(10)
        if process.stderr is not None:
            process.stderr.close()


class TestFlags:
    def test_a_busy_port_says_so_in_words_and_exits_1(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            code = main(["run", "synthetic:32x32@30:1", "--log-dir", str(tmp_path),
                         "--stats-port", str(port)])  # fmt: skip
        err = capsys.readouterr().err
        assert code == 1
        assert f"port {port} is already in use" in err
        assert "Errno" not in err

    def test_a_bad_stats_host_names_the_flag_and_is_a_usage_error(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        code = main(["run", "--log-dir", str(tmp_path), "--stats-port", "0",
                     "--stats-host", "no-such-host.invalid"])  # fmt: skip
        assert code == 2
        err = capsys.readouterr().err
        assert "--stats-host" in err and "no-such-host.invalid" in err

    @pytest.mark.parametrize(
        "flags", [["--stats-host", "127.0.0.1"], ["--stats-allow-host", "cam.lan"]]
    )
    def test_stats_flags_without_a_port_are_a_usage_error(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str]
    ) -> None:
        """A host to serve on with nothing to serve is a mistake, said before anything runs."""
        code = main(["run", "--log-dir", str(tmp_path), *flags])
        assert code == 2
        assert f"{flags[0]} needs --stats-port" in capsys.readouterr().err


class TestServing:
    def test_name_labels_the_one_stream(self, tmp_path: Path) -> None:
        """``--name door`` with one source: ``stream="door"`` in /metrics."""
        with (
            running(tmp_path, "synthetic:64x48@30:20", "--name", "door") as (_, url),
            urllib.request.urlopen(url + "metrics", timeout=10) as reply,
        ):
            text = reply.read().decode()
        assert 'framepipe_frames_processed_total{stream="door"}' in text
        assert 'stream="main"' not in text

    def test_all_interfaces_print_a_reachable_address_and_warn_once(self, tmp_path: Path) -> None:
        """``--stats-host 0.0.0.0`` prints an address another machine could use and one
        warning that the stats and previews are open to the network."""
        with running(tmp_path, "synthetic:64x48@30:20", "--stats-host", "0.0.0.0") as (
            process, url
        ):
            assert "0.0.0.0" not in url
            port = int(url.rsplit(":", 1)[1].rstrip("/"))
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as reply:
                assert reply.status == 200
            assert process.stderr is not None
            warning = process.stderr.readline()
        assert "open to the network" in warning


class TestStreamNameInTheLog:
    def test_configure_names_this_processs_records_stream(self) -> None:
        """What ``--name`` gives a single run's log: ``%(stream)s`` is the stream's name."""
        text = io.StringIO()
        handler = logging.StreamHandler(text)
        handler.setFormatter(logging.Formatter("%(stream)s %(message)s"))
        log = configure(log_dir=None, handlers=[handler], stream="door")
        try:
            log.info("hello")
            log.flush(timeout=5)
        finally:
            log.stop()
        assert text.getvalue() == "door hello\n"
