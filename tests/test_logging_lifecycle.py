"""Tests for framepipe.logging._lifecycle: accepted records survive exit, signals, crashes and fork.

Every test runs a real child Python process, ends it the way a user or a supervisor would (normal
exit, SIGTERM, Ctrl-C, an unhandled exception) and then reads the real log file. The child writes
through a slowed-down file sink, so the queue still holds a backlog when the ending arrives: the
tests check draining, not a logger that happened to be idle.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from framepipe.logging._core import STOP_TIMEOUT_S
from framepipe.logging._lifecycle import FLUSH_TIMEOUT_S

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/fd").is_dir() or not hasattr(os, "fork"),
    reason="needs POSIX signals, os.fork and /proc/self/fd",
)

# Records the child floods before it is ended. With SLOW_BATCH_S per batch of at most 64 records
# the writer needs about three seconds to drain them: time for the signal to land mid-backlog
# even when a busy machine delays the parent.
FLOOD = 6_000
SLOW_BATCH_S = 0.03
CHILD_TIMEOUT_S = 30.0
QUEUE_SIZE = 10_000  # 80 % of it (ordinary records' share) still holds the whole flood
# A child that is ending may take as long as its writer keeps writing (a loaded machine slows the
# drain, never stops it): it is hung only once its log has not grown for STALL_S, and at most
# the logger's own bounds at a signal (to flush, then to stop) plus that.
STALL_S = 30.0
ENDING_LIMIT_S = FLUSH_TIMEOUT_S + STOP_TIMEOUT_S + STALL_S

T = TypeVar("T")

PRELUDE = f"""
import json, logging, os, signal, sys, threading, time
from framepipe.logging import BatchRotatingFileHandler, configure, get_logger

LOG_PATH = sys.argv[1]
FLOOD = {FLOOD}

# A background job's shell may start us with SIGINT ignored; Python's default is the handler
# that raises KeyboardInterrupt, so put it back unless a test sets its own.
signal.signal(signal.SIGINT, signal.default_int_handler)


class SlowFileSink(BatchRotatingFileHandler):
    # The real batching file sink, slowed per batch so that a backlog builds up.
    def write_lines(self, lines):
        time.sleep({SLOW_BATCH_S})
        super().write_lines(lines)


def make_logger(slow=True):
    sink = (SlowFileSink if slow else BatchRotatingFileHandler)(LOG_PATH, encoding="utf-8")
    sink.setFormatter(logging.Formatter("%(levelname)s [%(process)d %(threadName)s]: %(message)s"))
    return configure(handlers=[sink], queue_size={QUEUE_SIZE}, level="DEBUG")


def flood(log, n=FLOOD, word="record"):
    for i in range(n):
        log.info("%s %d", word, i)


def announce_ready(log):
    # The parent ends us only after this line; the queue depth proves there is a backlog.
    print("ready", log.get_queue_size(), flush=True)
"""


@dataclass
class Finished:
    returncode: int
    stdout: str
    stderr: str
    log_text: str


def write_child(tmp_path: Path, body: str) -> Path:
    script = tmp_path / "child.py"
    script.write_text(PRELUDE + textwrap.dedent(body), encoding="utf-8")
    return script


def while_it_writes(wait: Callable[[float], T], log_path: Path) -> T:
    """``wait(timeout)`` for a child that is ending, called again for as long as its log at
    ``log_path`` grows; subprocess.TimeoutExpired once it stalled for STALL_S, or ran past
    ENDING_LIMIT_S."""
    began = last_growth = time.monotonic()
    size = -1
    while True:
        try:
            return wait(0.5)
        except subprocess.TimeoutExpired:
            now = time.monotonic()
            grown = log_path.stat().st_size if log_path.exists() else 0
            if grown != size:
                size, last_growth = grown, now
            elif now - last_growth >= STALL_S or now - began >= ENDING_LIMIT_S:
                raise


def run_child(tmp_path: Path, body: str) -> Finished:
    """Run ``body`` (after the prelude) to its end; the log file is ``tmp_path / "child.log"``."""
    log_path = tmp_path / "child.log"
    proc = subprocess.Popen(
        [sys.executable, str(write_child(tmp_path, body)), str(log_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
    )
    try:
        out, err = while_it_writes(lambda timeout: proc.communicate(timeout=timeout), log_path)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return Finished(proc.returncode, out, err, read_log(log_path))


class RunningChild:
    """A child we talk to: wait for its ``ready`` line, signal it, collect how it ended."""

    def __init__(self, tmp_path: Path, body: str) -> None:
        self.log_path = tmp_path / "child.log"
        self.proc = subprocess.Popen(
            [sys.executable, str(write_child(tmp_path, body)), str(self.log_path)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        # Our own readers drain both pipes, so a chatty child never blocks on a full pipe.
        self._readers = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        self.stderr.extend(self.proc.stderr)

    def wait_for_ready(self) -> int:
        """Return the queue depth the child reported with its ``ready`` line."""
        while True:
            try:
                line = self.lines.get(timeout=CHILD_TIMEOUT_S)
            except queue.Empty:
                self.proc.kill()
                pytest.fail("the child never said ready")
            if line is None:
                self.lines.put(None)
                _, err = self.finish()
                pytest.fail(f"the child ended before it was ready:\n{err}")
            self.stdout.append(line)
            if line.startswith("ready "):
                return int(line.split()[1])

    def finish(self) -> tuple[int, str]:
        """Wait for the child to end; return its exit status and stderr."""
        try:
            while_it_writes(lambda timeout: self.proc.wait(timeout=timeout), self.log_path)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=CHILD_TIMEOUT_S)
            pytest.fail(f"the child did not end after the signal:\n{''.join(self.stderr)}")
        for reader in self._readers:
            reader.join(timeout=CHILD_TIMEOUT_S)
        while (line := self.lines.get(timeout=CHILD_TIMEOUT_S)) is not None:
            self.stdout.append(line)
        self.lines.put(None)  # finish() may be called again
        self.close()
        return self.proc.returncode, "".join(self.stderr)

    def close(self) -> None:
        """Kill the child if it still runs (a failed test) and close the pipes."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=CHILD_TIMEOUT_S)
        for reader in self._readers:
            reader.join(timeout=CHILD_TIMEOUT_S)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()

    def signal_mid_backlog(self, signum: int) -> tuple[int, str, str]:
        """Send ``signum`` while records are still queued; return (status, stderr, log text)."""
        try:
            queued = self.wait_for_ready()
            assert queued > 0, "the child's queue was already empty: nothing left to drain"
            written_before = count_records(read_log(self.log_path))
            self.proc.send_signal(signum)
            returncode, err = self.finish()
        finally:
            self.close()
        assert written_before < FLOOD, "the writer had finished before the signal arrived"
        return returncode, err, read_log(self.log_path)


def read_log(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.exists() else ""


def record_numbers(log_text: str, word: str = "record") -> list[int]:
    return [int(n) for n in re.findall(rf"^INFO \[.*?\]: {word} (\d+)$", log_text, re.MULTILINE)]


def count_records(log_text: str) -> int:
    return len(record_numbers(log_text))


def assert_all_records(log_text: str, n: int = FLOOD, word: str = "record") -> None:
    numbers = record_numbers(log_text, word)
    assert numbers == list(range(n)), (
        f"expected {word} 0..{n - 1} in order, got {len(numbers)} of them"
    )


def assert_no_logger_complaints(stderr: str) -> None:
    assert "framepipe.logging:" not in stderr
    assert "_lifecycle.py" not in stderr, "a frame of the logger's own hooks shows in a traceback"


class TestNormalExit:
    def test_records_still_queued_at_exit_are_written_without_stop(self, tmp_path) -> None:
        """A script that floods records and simply ends leaves every one of them in the file."""
        result = run_child(tmp_path, """
            log = make_logger()
            flood(log)
            print("queued", log.get_queue_size(), flush=True)
        """)
        assert result.returncode == 0, result.stderr
        queued = int(result.stdout.split()[1])
        assert queued > 0, "nothing was queued at exit: the test would not test draining"
        assert_all_records(result.log_text)
        assert result.stderr == ""


class TestSigterm:
    def test_sigterm_with_the_default_action_drains_then_kills(self, tmp_path) -> None:
        """SIGTERM mid-backlog: every record is written and the child still dies of SIGTERM."""
        child = RunningChild(tmp_path, """
            log = make_logger()
            flood(log)
            announce_ready(log)
            time.sleep(60)
            print("the sleep was not interrupted", flush=True)
        """)
        returncode, err, log_text = child.signal_mid_backlog(signal.SIGTERM)
        assert returncode == -signal.SIGTERM, err
        assert_all_records(log_text)
        assert_no_logger_complaints(err)

    def test_a_previous_handler_runs_after_the_drain_and_decides_the_exit(self, tmp_path) -> None:
        """A SIGTERM handler installed before configure() is chained: it sees every record
        written already, and its ``sys.exit(3)`` is how the process ends."""
        marker = tmp_path / "previous_handler_ran"
        child = RunningChild(tmp_path, f"""
            def previous_handler(signum, frame):
                with open(LOG_PATH, encoding="utf-8") as f:
                    lines = sum(1 for line in f if ": record " in line)
                with open({str(marker)!r}, "w") as f:
                    f.write(f"{{signum}} {{lines}}")
                sys.exit(3)

            signal.signal(signal.SIGTERM, previous_handler)
            log = make_logger()
            flood(log)
            announce_ready(log)
            time.sleep(60)
        """)
        returncode, err, log_text = child.signal_mid_backlog(signal.SIGTERM)
        assert returncode == 3, err
        assert marker.read_text() == f"{int(signal.SIGTERM)} {FLOOD}"
        assert_all_records(log_text)
        assert_no_logger_complaints(err)

    def test_a_previous_handler_that_only_asks_to_stop_lets_the_program_finish(
        self, tmp_path
    ) -> None:
        """When the chained handler just sets a flag, the logger does not kill the process: the
        program logs its goodbye and exits 0 with everything written."""
        child = RunningChild(tmp_path, """
            stop_requested = threading.Event()
            signal.signal(signal.SIGTERM, lambda signum, frame: stop_requested.set())
            log = make_logger()
            flood(log)
            announce_ready(log)
            if not stop_requested.wait(60):
                sys.exit("no SIGTERM arrived")
            log.info("goodbye 0")
        """)
        returncode, err, log_text = child.signal_mid_backlog(signal.SIGTERM)
        assert returncode == 0, err
        assert_all_records(log_text)
        assert log_text.splitlines()[-1].endswith(": goodbye 0")
        assert_no_logger_complaints(err)


class TestSigint:
    def test_ctrl_c_raises_keyboard_interrupt_and_every_record_is_written(self, tmp_path) -> None:
        """With Python's default SIGINT handler the child gets its KeyboardInterrupt (and ends as
        Python ends on Ctrl-C), the backlog is written, and no traceback is logged or shows the
        logger's frames."""
        child = RunningChild(tmp_path, """
            log = make_logger()
            flood(log)
            try:
                announce_ready(log)  # inside the try: Ctrl-C may land as soon as it is printed
                time.sleep(60)
            except KeyboardInterrupt:
                print("KeyboardInterrupt raised", flush=True)
                raise
        """)
        returncode, err, log_text = child.signal_mid_backlog(signal.SIGINT)
        assert "KeyboardInterrupt raised" in child.stdout
        assert returncode == -signal.SIGINT, err
        assert err.rstrip().endswith("KeyboardInterrupt")
        assert_all_records(log_text)
        assert "CRITICAL" not in log_text
        assert "Traceback" not in log_text
        assert_no_logger_complaints(err)

    def test_sigint_with_the_default_action_drains_then_kills(self, tmp_path) -> None:
        """With SIGINT set to SIG_DFL before configure(), the child dies of SIGINT after the
        backlog is written."""
        child = RunningChild(tmp_path, """
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            log = make_logger()
            flood(log)
            announce_ready(log)
            time.sleep(60)
        """)
        returncode, err, log_text = child.signal_mid_backlog(signal.SIGINT)
        assert returncode == -signal.SIGINT, err
        assert_all_records(log_text)
        assert err == ""


class TestUnhandledExceptions:
    def test_a_crash_in_the_main_thread_is_logged_at_critical_after_every_record(
        self, tmp_path
    ) -> None:
        """An unhandled exception is logged at CRITICAL with its traceback, after all earlier
        records; Python still prints its traceback and exits 1."""
        result = run_child(tmp_path, """
            log = make_logger()
            flood(log)
            print("queued", log.get_queue_size(), flush=True)
            raise RuntimeError("camera 7 vanished")
        """)
        assert int(result.stdout.split()[1]) > 0, "nothing was queued at the crash"
        assert result.returncode == 1
        assert "Traceback (most recent call last)" in result.stderr
        assert result.stderr.rstrip().endswith("RuntimeError: camera 7 vanished")
        assert_all_records(result.log_text)
        after_records = result.log_text.split(f": record {FLOOD - 1}\n", 1)[1]
        assert after_records.startswith("CRITICAL ")
        assert "Traceback (most recent call last)" in after_records
        assert "RuntimeError: camera 7 vanished" in after_records
        assert_no_logger_complaints(result.stderr)

    def test_a_crash_in_another_thread_is_logged_at_critical_with_its_name(
        self, tmp_path
    ) -> None:
        """An exception that ends a worker thread is logged at CRITICAL naming the thread, with
        its traceback; Python still reports it on stderr and the program goes on."""
        result = run_child(tmp_path, """
            log = make_logger()
            flood(log)

            def grab():
                raise ValueError("frame grabber lost its device")

            worker = threading.Thread(target=grab, name="grabber-3")
            worker.start()
            worker.join(10)
            log.info("main goes on 0")
        """)
        assert result.returncode == 0, result.stderr
        assert "Exception in thread grabber-3" in result.stderr
        assert_all_records(result.log_text)
        critical = [line for line in result.log_text.splitlines() if line.startswith("CRITICAL")]
        assert len(critical) == 1
        assert "grabber-3" in critical[0]
        after = result.log_text.split(critical[0], 1)[1]
        assert "Traceback (most recent call last)" in after
        assert "ValueError: frame grabber lost its device" in after
        assert result.log_text.splitlines()[-1].endswith(": main goes on 0")


FORK_CHILD = """
    log = make_logger(slow=False)
    flood(log, 100, "parent-before")
    assert log.flush(10)
    pid = os.fork()
    if pid == 0:
        try:
            running = log.get_stats()["listener_running"]
            flood(log, 500, "child")
            flushed = log.flush(10)
            me = threading.current_thread()
            others = [t.name for t in threading.enumerate() if t is not me]
            print("child", json.dumps({"running": running, "flushed": flushed,
                "pid": os.getpid(), "threads": others}), flush=True)
            log.stop()
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    flood(log, 100, "parent-after")
    print("parent", json.dumps({"child_status": status, "flushed": log.flush(10),
        "running": log.get_stats()["listener_running"], "pid": os.getpid()}), flush=True)
"""


def run_fork_child(tmp_path: Path) -> tuple[dict[str, object], dict[str, object], str]:
    """Run a child that forks a grandchild; return both reports and the shared log file."""
    result = run_child(tmp_path, FORK_CHILD)
    assert result.returncode == 0, result.stderr
    reports = dict(line.split(" ", 1) for line in result.stdout.splitlines())
    return json.loads(reports["child"]), json.loads(reports["parent"]), result.log_text


FORK_CHILDREN = 50
FORK_CHILD_TIMEOUT_S = 20  # each grandchild's own SIGALRM; a well one exits in well under 1 s

# Defines fork_children(child, busy): while ``busy`` runs in a parent thread, fork FORK_CHILDREN
# children that each run ``child()`` and sys.exit(0); print how each one ended.
FORK_AND_REAP = f"""
def fork_children(child, busy):
    stop_busy = threading.Event()
    busy_thread = threading.Thread(target=busy, args=(stop_busy,), daemon=True)
    busy_thread.start()
    time.sleep(0.2)
    pids = []
    statuses = {{}}
    in_child = False  # a child's sys.exit() passes through the finally below too
    try:
        for n in range({FORK_CHILDREN}):
            pid = os.fork()
            if pid == 0:
                in_child = True
                signal.alarm({FORK_CHILD_TIMEOUT_S})  # the default action ends a hung child
                child()
                sys.exit(0)
            pids.append(pid)
            time.sleep(0.01)
        deadline = time.monotonic() + {FORK_CHILD_TIMEOUT_S} + 5
        while len(statuses) < len(pids) and time.monotonic() < deadline:
            for pid in pids:
                if pid not in statuses:
                    done, status = os.waitpid(pid, os.WNOHANG)
                    if done:
                        statuses[pid] = os.waitstatus_to_exitcode(status)
            time.sleep(0.02)
    finally:
        for pid in [] if in_child else pids:
            if pid not in statuses:
                os.kill(pid, signal.SIGKILL)
                statuses[pid] = "killed"
                os.waitpid(pid, 0)
        if not in_child:
            stop_busy.set()
            busy_thread.join(10)
    print("statuses", json.dumps(sorted(map(str, statuses.values()))), flush=True)
"""

FORK_UNDER_LOAD = """
    import io

    class SlowDisk(io.RawIOBase):
        # A file whose every write takes 2 ms (a network share): the parent's writer then spends
        # most of its time inside the buffered file object, where its internal lock is held.
        def __init__(self, path):
            self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        def writable(self):
            return True
        def write(self, data):
            time.sleep(0.002)
            return os.write(self.fd, data)
        def close(self):
            if not self.closed:
                os.close(self.fd)
            super().close()

    # A plain StreamHandler as the sink: it writes and flushes each record under its lock.
    sink = logging.StreamHandler(io.TextIOWrapper(io.BufferedWriter(SlowDisk(LOG_PATH))))
    log = configure(handlers=[sink], queue_size=500)  # a backlog the exit drains in ~1 s

    def log_constantly(stop):
        i = 0
        while not stop.is_set():
            log.info("parent %d", i)
            i += 1

    def child():
        for i in range(100):
            log.info("child %d", i)
        flushed = log.flush(5)
        stats = log.get_stats()
        report = {"flushed": flushed, "accepted": stats["accepted"],
                  "written": stats["written"], "errors": stats["errors"]}
        os.write(1, (json.dumps(report) + "\\n").encode())

    fork_children(child, log_constantly)
"""

FORK_WHILE_LOGGERS_ARE_TAKEN = """
    log = make_logger(slow=False)

    def take_loggers(stop):
        i = 0
        while not stop.is_set():
            get_logger(f"parent.{i % 100}")
            i += 1

    def child():
        get_logger(f"child.{os.getpid()}").info("child %d", os.getpid())
        os.write(1, (json.dumps(log.flush(5)) + "\\n").encode())

    fork_children(child, take_loggers)
"""


def run_fork_children(tmp_path: Path, body: str) -> tuple[list[str], list[object]]:
    """Run a ``fork_children`` scenario; return how the children ended and what they printed."""
    result = run_child(tmp_path, FORK_AND_REAP + textwrap.dedent(body))
    assert result.returncode == 0, result.stderr
    *reports, last = result.stdout.splitlines()
    return json.loads(last.split(" ", 1)[1]), [json.loads(line) for line in reports]


class TestFork:
    def test_fifty_children_forked_under_load_all_exit(self, tmp_path) -> None:
        """A parent thread logs constantly through a slow file while the main thread forks 50
        children: every child logs, flushes and exits 0, counting only its own records."""
        statuses, reports = run_fork_children(tmp_path, FORK_UNDER_LOAD)
        assert statuses == ["0"] * FORK_CHILDREN
        assert reports == [
            {"flushed": True, "accepted": 100, "written": 100, "errors": 0}
        ] * FORK_CHILDREN

    def test_children_forked_while_a_thread_takes_loggers_can_take_loggers(
        self, tmp_path
    ) -> None:
        """A parent thread calls get_logger() with new names while the main thread forks 50
        children: each child takes a new logger, logs, flushes and exits 0."""
        statuses, reports = run_fork_children(tmp_path, FORK_WHILE_LOGGERS_ARE_TAKEN)
        assert statuses == ["0"] * FORK_CHILDREN
        assert reports == [True] * FORK_CHILDREN

    def test_a_forked_child_logs_through_a_writer_of_its_own(self, tmp_path) -> None:
        """After os.fork() the child has a running writer that writes its records; the parent's
        logger keeps working."""
        child, parent, log_text = run_fork_child(tmp_path)
        assert child["running"] is True
        assert child["flushed"] is True
        assert len(child["threads"]) == 1, "the child should run exactly one thread: its writer"
        assert {k: parent[k] for k in ("child_status", "flushed", "running")} == {
            "child_status": 0, "flushed": True, "running": True,
        }
        assert_all_records(log_text, 100, "parent-before")
        assert_all_records(log_text, 500, "child")
        assert_all_records(log_text, 100, "parent-after")

    def test_records_from_a_forked_child_carry_the_childs_pid(self, tmp_path) -> None:
        """%(process)d in a forked child's records is the child's pid, not the parent's."""
        child, parent, log_text = run_fork_child(tmp_path)
        pids = set(re.findall(r"^INFO \[(\d+) .*?\]: child \d+$", log_text, re.MULTILINE))
        assert pids == {str(child["pid"])}, f"parent is {parent['pid']}"


class TestReconfigure:
    def test_200_configures_leak_nothing_and_sigterm_still_works(self, tmp_path) -> None:
        """After 200 configure() calls there is one root handler, one writer thread and one open
        log file more than before the first; SIGTERM then still drains and kills."""
        log_dir = tmp_path / "logs"
        child = RunningChild(tmp_path, f"""
            def snapshot():
                return {{
                    "threads": threading.active_count(),
                    "fds": len(os.listdir("/proc/self/fd")),
                    "root_handlers": len(logging.getLogger().handlers),
                }}

            before = snapshot()
            for i in range(199):
                log = configure(log_dir={str(log_dir)!r}, queue_size={QUEUE_SIZE})
                log.info("configure %d", i)
            log = make_logger()
            print("resources", json.dumps({{"before": before, "after": snapshot()}}), flush=True)
            flood(log)
            announce_ready(log)
            time.sleep(60)
        """)
        returncode, err, log_text = child.signal_mid_backlog(signal.SIGTERM)
        assert returncode == -signal.SIGTERM, err
        assert_all_records(log_text)
        resources = json.loads(child.stdout[0].split(" ", 1)[1])
        before, after = resources["before"], resources["after"]
        assert after == {
            "threads": before["threads"] + 1,
            "fds": before["fds"] + 1,
            "root_handlers": before["root_handlers"] + 1,
        }
        # Each configure() has a file of its own, holding its one record.
        files = [p.read_text(encoding="utf-8") for p in log_dir.iterdir()]
        numbers = [re.findall(r": configure (\d+)$", text, re.MULTILINE) for text in files]
        assert sorted(int(n) for [n] in numbers) == list(range(199))

    def test_200_configures_do_not_lengthen_the_signal_handler_chain(self, tmp_path) -> None:
        """A handler installed before the first configure() is reached through the same number
        of frames after 1 and after 200 configures, and runs once per signal."""
        result = run_child(tmp_path, """
            import inspect
            depths = []
            signal.signal(signal.SIGTERM, lambda signum, frame: depths.append(len(inspect.stack())))
            log = make_logger(slow=False)
            signal.raise_signal(signal.SIGTERM)
            for _ in range(199):
                log = make_logger(slow=False)
            signal.raise_signal(signal.SIGTERM)
            print(json.dumps(depths))
        """)
        assert result.returncode == 0, result.stderr
        depths = json.loads(result.stdout)
        assert len(depths) == 2
        assert depths[0] == depths[1]


class TestOtherThreads:
    """Signal handlers can only be changed on the main thread; the other hooks anywhere."""

    PREVIOUS_HANDLER = """
        def previous_handler(signum, frame):
            with open(LOG_PATH, encoding="utf-8") as f:
                lines = sum(1 for line in f if ": record " in line)
            print("previous handler saw", lines, flush=True)
            sys.exit(3)

        signal.signal(signal.SIGTERM, previous_handler)

        def in_thread(function):
            worker = threading.Thread(target=function)
            worker.start()
            worker.join(10)
    """

    FLOOD_AND_WAIT = """
        flood(log)
        announce_ready(log)
        time.sleep(60)
    """

    def assert_sigterm_drains_then_chains(self, tmp_path: Path, setup: str) -> None:
        """After PREVIOUS_HANDLER and ``setup`` (which leaves the logger in ``log``), a flood and
        SIGTERM mid-backlog: every record is written, then the previous handler runs and exits 3.
        """
        parts = (self.PREVIOUS_HANDLER, setup, self.FLOOD_AND_WAIT)
        child = RunningChild(tmp_path, "".join(textwrap.dedent(part) for part in parts))
        returncode, err, log_text = child.signal_mid_backlog(signal.SIGTERM)
        assert returncode == 3, err
        assert f"previous handler saw {FLOOD}" in child.stdout
        assert_all_records(log_text)

    def test_reconfiguring_from_a_worker_thread_keeps_sigterm_draining_the_new_logger(
        self, tmp_path
    ) -> None:
        """configure() again from a worker thread: SIGTERM still drains the new logger's
        backlog and still reaches the handler that was there before the first configure()."""
        self.assert_sigterm_drains_then_chains(tmp_path, """
            configure(log_dir="first-logs")
            in_thread(make_logger)
            log = get_logger()
        """)

    def test_stop_from_a_worker_thread_keeps_the_previous_handler_chained(
        self, tmp_path
    ) -> None:
        """After stop() on a worker thread and a new configure() on the main thread, SIGTERM
        drains the new logger and still reaches the handler from before."""
        self.assert_sigterm_drains_then_chains(tmp_path, """
            for _ in range(3):
                in_thread(make_logger(slow=False).stop)
            log = make_logger()
        """)


class TestStop:
    def test_stop_twice_then_records_are_counted_as_dropped_and_hooks_restored(
        self, tmp_path
    ) -> None:
        """stop() may be called twice; later records are counted as dropped, not raised; the
        signal handlers and exception hooks are the ones from before configure()."""
        result = run_child(tmp_path, """
            def hooks():
                return (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT),
                        sys.excepthook, threading.excepthook)

            def user_excepthook(*args):
                sys.__excepthook__(*args)

            signal.signal(signal.SIGTERM, lambda signum, frame: None)
            signal.signal(signal.SIGINT, lambda signum, frame: None)
            sys.excepthook = user_excepthook
            original = hooks()
            log = make_logger()
            installed = [a is not b for a, b in zip(hooks(), original)]
            flood(log, 1000)
            log.stop()
            log.stop()
            log.info("after stop %d", 1)
            log.error("after stop %d", 2)
            stats = log.get_stats()
            print(json.dumps({
                "installed": installed,
                "restored": [a == b for a, b in zip(hooks(), original)],
                "dropped": stats["dropped"],
                "written": stats["written"],
                "running": stats["listener_running"],
            }))
        """)
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        assert report["installed"] == [True, True, True, True]
        assert report["restored"] == [True, True, True, True]
        assert report["dropped"] == 2
        assert report["written"] == 1000
        assert report["running"] is False
        assert_all_records(result.log_text, 1000)
        assert "after stop" not in result.log_text
        assert result.stderr.splitlines() == [  # one note for both records, nothing else
            "framepipe.logging: a record was logged after stop() and discarded; such records "
            "are counted in get_stats()['discarded_after_stop']"
        ]
