"""Helpers every kind of test needs: a hand-driven clock, waiting with a deadline, a free port
and a refusing one, a log entry, a process's end, and the command that runs a program from
``tests/children``.

Imported as ``from helpers import ...`` (``tests/`` is on the path, as for the other helper
modules). Fixtures that several modules share live in ``conftest.py``.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, TypeVar

import psutil

__all__ = [
    "CHILDREN",
    "ManualClock",
    "child_command",
    "free_port",
    "log_entry",
    "process_ended",
    "process_resources",
    "pythonpath_with_tests",
    "refused_port",
    "settled_back",
    "wait_for_frames",
    "wait_until",
]

T = TypeVar("T")

TESTS = Path(__file__).resolve().parent
CHILDREN = TESTS / "children"  # programs the tests run as processes
POLL_S = 0.02


def pythonpath_with_tests() -> str:
    """``PYTHONPATH`` for a process that imports the tests' processors by module and name (a
    worker, a Ray actor): this directory first, then what the environment had."""
    return os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))


class ManualClock:
    """A clock that moves only when told to: ``advance()``, ``sleep()``, or ``step`` per read.

    ``now`` starts at ``start`` (an int start and int steps keep it an int, for nanosecond
    clocks). ``sleep`` records each wait in ``sleeps`` and advances by it, so it can stand in for
    ``time.sleep``. ``step`` moves the clock after every read, for code that waits until its
    clock passes a deadline. Safe to share between threads.
    """

    def __init__(self, start: float = 0.0, step: float = 0.0) -> None:
        self.now = start
        self.step = step
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> Any:
        with self._lock:
            now = self.now
            self.now += self.step
            return now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(round(seconds, 9))
            self.now += seconds


def wait_until(
    condition: Callable[[], T],
    what: str | Callable[[], str],
    timeout: float = 10.0,
    interval: float = POLL_S,
) -> T:
    """Call ``condition`` until it returns something true, and return that.

    Raises AssertionError naming ``what`` was awaited when ``timeout`` seconds pass first;
    ``what`` may be a function, called then, to say how far things got.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() >= deadline:
            described = what() if callable(what) else what
            raise AssertionError(f"timed out after {timeout:g} s waiting for {described}")
        time.sleep(interval)


def process_resources(process: psutil.Process) -> dict[str, int]:
    """What ``process`` holds that a leak would grow: threads, descriptors, child processes."""
    return {
        "threads": process.num_threads(),
        "fds": process.num_fds(),
        "children": len(process.children(recursive=True)),
    }


def settled_back(
    read: Callable[[], dict[str, int]], before: Mapping[str, int], timeout: float = 10.0
) -> dict[str, int]:
    """``read()`` (counts of threads, descriptors, children...) once each is back to at most
    what ``before`` says, and return it. One of the last round's still closing comes and goes
    for a moment; a leak grows with the rounds and never settles back."""

    def settled() -> dict[str, int] | None:
        now = read()
        return now if all(now[key] <= before[key] for key in before) else None

    return wait_until(settled, lambda: f"{read()} back to at most {dict(before)}", timeout)


class _Snapshots(Protocol):
    def snapshot(self) -> Mapping[str, Any]: ...


def wait_for_frames(handle: _Snapshots, count: int, timeout: float = 20.0) -> None:
    """Until every stream of ``handle`` (``snapshot()``: name -> snapshot) has processed
    ``count`` frames."""
    wait_until(
        lambda: all(s.frames_processed >= count for s in handle.snapshot().values()),
        lambda: f"every stream to process {count} frames: {handle.snapshot()}",
        timeout,
        interval=0.05,
    )


# The kernel's ephemeral ports (Linux's default range where it cannot be read): what it gives a
# bind to port 0 and an outgoing connection.
EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LOWEST_FREE_PORT = 10_000


def _first_ephemeral_port() -> int:
    try:
        return int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now, for a server a test starts on it (and may start
    again on it): below the kernel's ephemeral ports, so that no connection or port-0 bind of
    another process (the tests in other workers make many) takes it meanwhile."""
    below = _first_ephemeral_port()
    for _ in range(100):
        port = random.randrange(LOWEST_FREE_PORT, below) if below > LOWEST_FREE_PORT else 0
        with socket.socket() as probe:
            try:
                probe.bind((host, port))
            except OSError:
                continue  # taken, or closing
            found: int = probe.getsockname()[1]
            return found
    raise AssertionError(f"no free port between {LOWEST_FREE_PORT} and {below} on {host}")


@contextmanager
def refused_port(host: str = "127.0.0.1") -> Iterator[int]:
    """A port that refuses connections for as long as the block runs: bound, never listening
    (a released one could be taken by another process meanwhile)."""
    with socket.socket() as bound:
        bound.bind((host, 0))
        yield bound.getsockname()[1]


def process_ended(pid: int) -> bool:
    """The process is gone, or a zombie its parent has not reaped yet (it has exited)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def log_entry(
    msg: object,
    *args: object,
    level: int = logging.INFO,
    created: float = 0.0,
    name: str = "t",
    exc_info: object = None,
    ident: int | None = None,
    caller: tuple[str, int, str] | None = None,
    thread_name: str | None = None,
    extra: dict[str, object] | None = None,
    seq: int = 0,
    origin: tuple[str, int, str] | None = None,
) -> tuple[Any, ...]:
    """A logger entry as the caller's thread captures it (``framepipe.logging._capture.Entry``):
    (created, levelno, name, msg, args, exc_info, thread_ident, caller, thread_name, extra, seq,
    origin). ``ident`` defaults to the calling thread's."""
    ident = threading.get_ident() if ident is None else ident
    return (created, level, name, msg, args, exc_info, ident, caller, thread_name, extra, seq,
            origin)  # fmt: skip


def child_command(name: str, *args: object) -> list[str]:
    """The command line running ``tests/children/<name>.py`` in a fresh interpreter, with
    ``args`` (each turned into a string) as its arguments."""
    path = CHILDREN / f"{name}.py"
    if not path.is_file():
        raise ValueError(f"no child program {name!r}: {path} does not exist")
    return [sys.executable, str(path), *(str(arg) for arg in args)]
