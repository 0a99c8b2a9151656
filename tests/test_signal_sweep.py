"""Stop signals at every moment of a run: SIGINT, SIGTERM and SIGHUP sent at offsets spread over
the whole life of ``framepipe run`` (from the command's first instruction, through its imports,
the start of its workers or of Ray, the frames, to the last byte of its output), with one
source, several, and ``--engine ray``.

Each run must end as a stop is documented to: exit 0, the summary printed and written, every
stream's end in the log with no record missing, and no process left behind. The offsets are
fractions of the life of an undisturbed run measured first (30 with one source and with
several, 12 with Ray, whose runs take longest); the signals take turns along them, so each
covers the whole life. ``FRAMEPIPE_SIGNAL_SWEEP=full`` sends every signal at every offset.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

from helpers import child_command

OFFSETS = {"one source": 30, "several": 30, "ray": 12}  # over the life of a run (Ray's: ~10 s)
PARALLEL = 2  # runs at a time: the machine's two cores, both busy
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
FULL = os.environ.get("FRAMEPIPE_SIGNAL_SWEEP") == "full"
SHORT = "synthetic:64x48@30:1"  # 30 frames, as fast as they render
# The child's byte goes just before main() is called: the first signal right after it.
FIRST_OFFSET_S = 0.0

SCENARIOS = {
    "one source": [SHORT],
    "several": [SHORT, SHORT, "--name", "a", "--name", "b"],
    "ray": ["--engine", "ray", SHORT, SHORT, "--name", "a", "--name", "b"],
}
STREAMS = {"one source": [], "several": ["a", "b"], "ray": ["a", "b"]}
_RECORD = re.compile(r" \[(?P<stream>\S+) (?P<pid>\d+) #(?P<seq>\d+)\] (?P<rest>.*)$")


@dataclass
class Outcome:
    """One run: when its signal went, how it ended, and what it left."""

    offset_s: float
    signum: int | None
    code: int | None = None
    stdout: str = ""
    stderr: str = ""
    descendants: set[int] = field(default_factory=set)
    life_s: float = 0.0

    def __str__(self) -> str:
        name = "none" if self.signum is None else signal.Signals(self.signum).name
        return f"{name} at {self.offset_s:.3f} s: exit {self.code}, stderr {self.stderr!r}"


def run_once(work: Path, scenario: str, signum: int | None, offset_s: float) -> Outcome:
    """Run the scenario in ``work``; send ``signum`` ``offset_s`` after the command began."""
    work.mkdir(parents=True)
    argv = ["run", *SCENARIOS[scenario], "--quiet", "--log-dir", str(work / "logs"),
            "--summary-json", str(work / "summary.json")]  # fmt: skip
    ready_read, ready_write = os.pipe()
    outcome = Outcome(offset_s, signum)
    process = subprocess.Popen(
        child_command("framepipe_command", ready_write, *argv),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, pass_fds=(ready_write,),
        start_new_session=True, cwd=work,
    )  # fmt: skip
    os.close(ready_write)
    watcher = threading.Thread(target=_note_descendants, args=(process, outcome), daemon=True)
    try:
        os.read(ready_read, 1)
        _wait_for_handlers(process)
        began = time.monotonic()
        watcher.start()
        if signum is not None:
            time.sleep(offset_s)
            try:
                process.send_signal(signum)
            except ProcessLookupError:
                pass  # it had ended: the signal came after its last byte
        outcome.stdout, outcome.stderr = process.communicate(timeout=180)
        outcome.life_s = time.monotonic() - began
    finally:
        os.close(ready_read)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
    watcher.join(5)
    outcome.code = process.returncode
    return outcome


def _wait_for_handlers(process: subprocess.Popen[str]) -> None:
    """Until the command catches SIGHUP, which it does from its first instruction on: the
    moment offsets count from (the child's byte comes a few instructions before it)."""
    deadline = time.monotonic() + 10.0
    while process.poll() is None and time.monotonic() < deadline:
        try:
            status = Path(f"/proc/{process.pid}/status").read_text()
        except OSError:
            return
        found = re.search(r"^SigCgt:\s*([0-9a-f]+)$", status, re.MULTILINE)
        if found is None or int(found[1], 16) & (1 << (signal.SIGHUP - 1)):
            return
        time.sleep(0.0005)


def _note_descendants(process: subprocess.Popen[str], outcome: Outcome) -> None:
    """Every process the run started, however briefly, until it ends."""
    try:
        parent = psutil.Process(process.pid)
        while process.poll() is None:
            outcome.descendants |= {child.pid for child in parent.children(recursive=True)}
            time.sleep(0.02)
    except psutil.NoSuchProcess:
        pass


def check(work: Path, scenario: str, outcome: Outcome) -> None:
    """The documented outcome of a stop, whenever it came."""
    assert outcome.code == 0, f"{outcome}\n{_supervision(work)}"
    assert "Traceback" not in outcome.stderr, str(outcome)
    summary = json.loads((work / "summary.json").read_text())
    streams = STREAMS[scenario]
    if streams:
        assert [entry["stream"] for entry in summary["streams"]] == streams, str(outcome)
        assert all(entry["error"] is None for entry in summary["streams"]), str(outcome)
        assert "total" in outcome.stdout, str(outcome)
    else:
        assert summary["frames_processed"] <= 30, str(outcome)
        assert "frames" in outcome.stdout, str(outcome)
    log = "".join(path.read_text() for path in sorted((work / "logs").glob("logs_*.txt*")))
    ends = [line for line in log.splitlines() if "pipeline end (" in line]
    assert len(ends) == max(1, len(streams)), f"{outcome}: {ends}"
    for (stream, pid), numbers in _sequences(log).items():
        if stream != "MainProcess":
            assert numbers == list(range(1, len(numbers) + 1)), f"{outcome}: {stream} {pid}"
    _, alive = psutil.wait_procs(
        _processes([pid for pid in outcome.descendants if _alive(pid)]), timeout=15
    )
    assert alive == [], f"{outcome}: left running {[p.pid for p in alive]}"


def _supervision(work: Path) -> str:
    """What the run's log says of its workers (their start, end and any trouble), indented."""
    lines = []
    for path in sorted((work / "logs").glob("logs_*.txt*")):
        for line in path.read_text(errors="replace").splitlines():
            if "MainProcess" in line and ("stream " in line or " WARNING " in line):
                lines.append(f"    {line}")
    return "\n".join(lines[-12:])


def _sequences(log: str) -> dict[tuple[str, int], list[int]]:
    by_process: dict[tuple[str, int], list[int]] = {}
    for line in log.splitlines():
        match = _RECORD.search(line)
        if match is not None:
            key = (match["stream"], int(match["pid"]))
            by_process.setdefault(key, []).append(int(match["seq"]))
    return {key: sorted(numbers) for key, numbers in by_process.items()}


def _alive(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def _processes(pids: list[int]) -> list[psutil.Process]:
    found = []
    for pid in pids:
        try:
            found.append(psutil.Process(pid))
        except psutil.NoSuchProcess:
            pass
    return found


def plan(life_s: float, offsets: int, signals: tuple[int, ...]) -> Iterator[tuple[int, float]]:
    """(signal, offset) pairs: ``offsets`` offsets from the first instruction to a little past
    the undisturbed run's end, the signals taking turns (every signal at each with ``FULL``)."""
    for index in range(offsets):
        offset = FIRST_OFFSET_S + life_s * 1.05 * index / (offsets - 1)
        if FULL:
            for signum in signals:
                yield signum, offset
        else:
            yield signals[index % len(signals)], offset


@pytest.mark.timeout(600)
@pytest.mark.parametrize(
    "scenario",
    [pytest.param(name, marks=[pytest.mark.local_ray] * (name == "ray")) for name in SCENARIOS],
)
def test_a_stop_signal_at_any_moment_is_a_clean_stop(tmp_path: Path, scenario: str) -> None:
    """Each signal at offsets over the whole run: exit 0, the summary, a complete log, and no
    process left, every time."""
    if scenario == "ray":
        pytest.importorskip("ray")
    baseline = run_once(tmp_path / "undisturbed", scenario, None, 0.0)
    check(tmp_path / "undisturbed", scenario, baseline)
    runs = list(enumerate(plan(baseline.life_s, OFFSETS[scenario], SIGNALS)))
    with ThreadPoolExecutor(PARALLEL) as pool:
        outcomes = list(
            pool.map(
                lambda item: run_once(tmp_path / f"run{item[0]}", scenario, *item[1]),
                runs,
            )
        )
    failures = []
    for (index, _), outcome in zip(runs, outcomes, strict=True):
        try:
            check(tmp_path / f"run{index}", scenario, outcome)
        except (AssertionError, OSError, ValueError) as exc:
            failures.append(str(exc).split("\nassert")[0])  # with what the log said
    assert failures == [], f"{len(failures)} of {len(runs)} runs:\n" + "\n".join(failures)
