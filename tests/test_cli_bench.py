"""Tests for framepipe.cli.bench: usage errors, and a tiny real end-to-end run."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from framepipe.bench.modes import MODES, NoLogging
from framepipe.cli import main
from helpers import wait_until
from mounts import tmpfs

TINY = ["bench", "--source", "synthetic:64x48@10:1", "--frames", "6", "--repeat", "2", "--quiet"]


def _framepipe(*argv: str) -> subprocess.CompletedProcess[str]:
    """Run the installed command ``python -m framepipe ARGV`` to the end."""
    return subprocess.run(
        [sys.executable, "-m", "framepipe", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--sink", "slow:x"], "argument --sink: sink must be file, fsync or slow:MS"),
        (["--modes", "foo"], "argument --modes: modes must be among"),
        (["--frames", "0"], "argument --frames: must be a positive integer, but got '0'"),
        (["--repeat", "-2"], "argument --repeat: must be a positive integer"),
        (["--log-every", "1,x"], "argument --log-every: must be positive integers"),
        (["--log-every", "10,10"], "argument --log-every: must be distinct"),
        (["--budget-ms", "0"], "argument --budget-ms: must be a positive number"),
        (["--processor", "sharpen"], "argument --processor: invalid choice"),
        (["--source", "no-such-clip.mp4"], "no such file: no-such-clip.mp4"),
        (["--json", "no-such-dir/r.json"], "--json directory must exist, but no-such-dir"),
    ],
)
def test_bad_values_are_one_line_usage_errors(
    flags: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each bad value exits 2 with a single ``framepipe: error:`` line and no traceback."""
    assert main([*TINY, *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith("framepipe: error: ")
    assert message in err
    assert err.count("\n") == 1


def test_tiny_run_writes_a_complete_json_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every sink x log-every x mode has a row; logging modes wrote every record they got."""
    report_path = tmp_path / "r.json"
    flags = ["--sink", "slow:1,file", "--log-every", "1,3", "--modes", "sync,async,stdlib-queue"]
    assert main([*TINY, *flags, "--json", str(report_path)]) == 0
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert (report["frames"], report["repeat"]) == (6, 2)
    combos = [(row["sink"], row["log_every"], row["mode"]) for row in report["results"]]
    assert combos == [
        (sink, every, mode)
        for sink in ("slow:1", "file")
        for every in (1, 3)
        for mode in ("none", "sync", "async", "stdlib-queue")
    ]
    for row in report["results"]:
        assert row["status"] == "ok"
        expected_records = 0 if row["mode"] == "none" else 2 * len(range(0, 6, row["log_every"]))
        assert row["written"] + row["dropped"] == expected_records
        assert row["frame_ms"]["max"] >= row["frame_ms"]["p50"] > 0
    out = capsys.readouterr().out
    assert "verdict slow:1:" in out
    assert "verdict file:" in out


class MissingPackageMode(NoLogging):
    """A mode whose package really does not exist: importing it fails."""

    name = "missing"
    requires = "framepipe_no_such_package_for_tests"


def test_a_mode_whose_package_is_missing_is_reported_as_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run succeeds; the mode's rows say "skipped" and the terminal says why."""
    monkeypatch.setitem(MODES, "missing", MissingPackageMode)
    report_path = tmp_path / "r.json"
    flags = ["--sink", "slow:0", "--log-every", "2", "--modes", "missing,stdlib-queue"]
    assert main([*TINY, *flags, "--json", str(report_path)]) == 0
    rows = json.loads(report_path.read_text(encoding="utf-8"))["results"]
    assert [(row["mode"], row["status"]) for row in rows] == [
        ("none", "ok"),
        ("missing", "skipped"),
        ("stdlib-queue", "ok"),
    ]
    out = capsys.readouterr().out
    assert "missing: skipped: framepipe_no_such_package_for_tests is not importable" in out


def test_plot_flag_writes_a_png(tmp_path: Path) -> None:
    """--plot produces the PNG next to the JSON."""
    pytest.importorskip("matplotlib", reason="optional 'plot' extra not installed")
    plot_path = tmp_path / "r.png"
    flags = ["--sink", "slow:0", "--log-every", "1", "--modes", "async", "--plot", str(plot_path)]
    assert main([*TINY, *flags]) == 0
    assert plot_path.read_bytes().startswith(b"\x89PNG")


def test_installed_command_reports_errors_without_traceback() -> None:
    """The console entry point behaves like ``main``: one line, exit 2."""
    completed = _framepipe("bench", "--sink", "slow:x")
    assert completed.returncode == 2
    assert completed.stderr.splitlines() == [
        "framepipe: error: argument --sink: sink must be file, fsync or slow:MS "
        "(MS in milliseconds), but got 'slow:x'"
    ]


@pytest.mark.parametrize(
    ("content", "name"),
    [
        (b"", "empty.mp4"),  # a 0-byte file
        (b"this is not a video\n", "notes.mp4"),  # text with a video extension
    ],
    ids=["empty", "text"],
)
def test_a_source_that_is_not_a_video_fails_without_native_messages(
    tmp_path: Path, content: bytes, name: str
) -> None:
    """FFmpeg's and OpenCV's own messages stay off stderr: only the one error line is left."""
    source = tmp_path / name
    source.write_bytes(content)
    completed = _framepipe(*TINY[:1], "--source", str(source), "--quiet")
    assert completed.returncode == 2
    assert completed.stderr.splitlines() == [
        f"framepipe: error: not a video file: {source} (no decodable video stream)"
    ]


# Long enough to signal mid-benchmark: 20 runs, every "sync" run 50 records x 10 ms.
SLOW = ["bench", "--source", "synthetic:64x48@10:1", "--frames", "50", "--repeat", "10",
        "--sink", "slow:10", "--log-every", "1", "--modes", "sync", "--quiet"]  # fmt: skip


@pytest.fixture
def bench_child(tmp_path: Path) -> Iterator[Callable[[list[str]], subprocess.Popen[str]]]:
    """Start ``python -m framepipe ARGV`` with its temporary files under ``tmp_path/tmp``; the
    child is killed at teardown if it is still running."""
    children: list[subprocess.Popen[str]] = []
    temp = tmp_path / "tmp"
    temp.mkdir()

    def start(argv: list[str]) -> subprocess.Popen[str]:
        env = {**os.environ, "TMPDIR": str(temp)}
        child = subprocess.Popen(
            [sys.executable, "-m", "framepipe", *argv], env=env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        children.append(child)
        return child

    yield start
    for child in children:
        if child.poll() is None:
            child.kill()
            child.communicate(timeout=10)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_mid_benchmark_says_what_was_done_and_leaves_no_temporary_files(
    tmp_path: Path, bench_child: Callable[[list[str]], subprocess.Popen[str]], signum: int
) -> None:
    """Ctrl-C or SIGTERM after a few runs: exit 128+signal, one line naming the runs completed,
    no report, and no ``framepipe-bench-*`` directory left behind."""
    temp = tmp_path / "tmp"
    child = bench_child(SLOW)
    seen: set[Path] = set()

    def runs_under_way() -> bool:
        seen.update(temp.glob("framepipe-bench-*"), temp.glob("framepipe-bench-*/*"))
        return len(seen) >= 3  # at least one run has finished and another begun

    wait_until(runs_under_way, "the benchmark to start its runs", timeout=60)
    child.send_signal(signum)
    out, err = child.communicate(timeout=60)
    assert child.returncode == 128 + signum
    assert out == ""
    name = signal.Signals(signum).name
    match = re.fullmatch(rf"framepipe: error: interrupted by {name} after (\d+) of 20 runs\n", err)
    assert match is not None, err
    assert 1 <= int(match[1]) < 20
    assert list(temp.iterdir()) == []


@pytest.mark.parametrize(("modes", "runs"), [("sync", "2 runs"), ("none", "1 run")])
def test_ctrl_c_while_a_stream_source_opens_stops_at_once(
    bench_child: Callable[[list[str]], subprocess.Popen[str]], modes: str, runs: str
) -> None:
    """A server that accepts and never answers: Ctrl-C ends the open at once (the open timeout
    is 10 s) with exit 130 and one line, which counts the runs planned (one run: singular)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        server.settimeout(60)
        url = f"tcp://127.0.0.1:{server.getsockname()[1]}"
        child = bench_child(["bench", "--source", url, "--modes", modes, "--repeat", "1",
                             "--sink", "file", "--log-every", "1", "--quiet"])  # fmt: skip
        connection, _ = server.accept()  # the child is inside the open now
        with connection:
            time.sleep(0.5)
            child.send_signal(signal.SIGINT)
            started = time.monotonic()
            _, err = child.communicate(timeout=30)
            waited = time.monotonic() - started
    assert child.returncode == 130
    assert err.splitlines() == [f"framepipe: error: interrupted by SIGINT after 0 of {runs}"]
    assert waited < 5.0  # far from the 10 s open timeout, with room for a busy machine


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        # each used to fail only after the whole benchmark had run
        (["--json", "."], "--json must be a file, but . is a directory"),
        (["--json", "/dev/full"], "cannot write --json /dev/full: No space left on device"),
        (["--plot", "out.txt"], "--plot must name a .png file, but got 'out.txt'"),
        (["--json", "a" * 300 + ".json"], "--json name is too long for the file system"),
        (["--json", "r.json", "--plot", "r.json"], "--plot must name a .png file"),
        (["--json", "r.png", "--plot", "r.png"], "--json and --plot are the same file: r.png"),
    ],
    ids=["directory", "dev-full", "not-png", "too-long", "json-as-plot", "same-file"],
)
def test_outputs_that_cannot_be_written_are_refused_before_the_benchmark(
    tmp_path: Path,
    flags: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Bad --json/--plot paths: exit 2, one line, and no benchmark run first."""
    monkeypatch.chdir(tmp_path)
    assert main([*TINY, *flags]) == 2
    out, err = capsys.readouterr()
    assert err.startswith(f"framepipe: error: {message}")
    assert err.count("\n") == 1
    assert out == ""  # the report table is printed only after a run


@pytest.mark.parametrize("flag", ["--json", "--plot"])
def test_an_output_that_is_the_source_is_refused_and_the_source_kept(
    tmp_path: Path, flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """--json (or --plot) naming the --source file would replace the video: exit 2."""
    clip = tmp_path / "clip.png"  # a name --plot accepts, so only the source check can refuse
    clip.write_bytes(b"the only copy")
    argv = ["bench", "--source", str(clip), "--frames", "6", "--repeat", "1", "--quiet"]
    assert main([*argv, flag, str(clip)]) == 2
    assert "is the source file" in capsys.readouterr().err
    assert clip.read_bytes() == b"the only copy"


def _fill(directory: Path) -> None:
    """Write into ``directory`` until its file system has no block left."""
    with pytest.raises(OSError, match="No space left on device"):
        (directory / "filler").write_bytes(b"x" * (1 << 20))  # more than the 64k it holds


@pytest.mark.parametrize(("flag", "name"), [("--json", "r.json"), ("--plot", "r.png")])
def test_a_disk_that_fills_during_the_run_is_one_error_line_after_the_table(
    tmp_path: Path, flag: str, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The output passed the checks, then the disk filled: exit 1, one line, no traceback."""
    if flag == "--plot":
        pytest.importorskip("matplotlib", reason="optional 'plot' extra not installed")
    flags = ["--sink", "file", "--log-every", "1", "--modes", "async"]
    with tmpfs(tmp_path / "small", "64k") as disk:
        _fill(disk)  # an empty file still fits (the checks pass), its contents do not
        output = disk / name
        assert main([*TINY, *flags, flag, str(output)]) == 1
    out, err = capsys.readouterr()
    assert err == f"framepipe: error: cannot write {flag} {output}: No space left on device\n"
    assert out.startswith("framepipe bench: ")  # the measurements were still shown


def test_a_closed_stdout_still_gets_the_json_written_and_one_error_line(tmp_path: Path) -> None:
    """``framepipe bench ... | true``: the JSON report is written, then one line and exit 1."""
    report_path = tmp_path / "r.json"
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody reads: every write to stdout fails with EPIPE
    try:
        result = subprocess.run(
            [sys.executable, "-m", "framepipe", *TINY, "--json", str(report_path)],
            stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=120, check=False,
        )  # fmt: skip
    finally:
        os.close(write_end)
    assert json.loads(report_path.read_text(encoding="utf-8"))["results"]
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "framepipe: error: cannot print the report: stdout is closed (broken pipe)"
    ]


def test_a_stdout_closed_from_the_start_is_one_error_line(tmp_path: Path) -> None:
    """``framepipe bench ... >&-`` (no descriptor 1 at all): the JSON report is written, the
    report that cannot be printed is one line and exit 1."""
    report_path = tmp_path / "r.json"
    result = subprocess.run(
        ["bash", "-c", 'exec >&-; exec "$0" -m framepipe "$@"', sys.executable, *TINY,
         "--json", str(report_path)],
        stderr=subprocess.PIPE, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert json.loads(report_path.read_text(encoding="utf-8"))["results"]
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "framepipe: error: cannot print the report: stdout is closed"
    ]
