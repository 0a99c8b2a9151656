"""Shared fixtures: every test starts and ends without a running process-wide logger and with
the stop signals' handlers it found; logs of the implicit defaults in a temporary directory for
the modules that ask for it; the /dev/shm entries of a test's own processes."""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from alone import Turns
from framepipe.logging import get_logger
from shm_watch import SharedMemoryWatch

# A handler a test leaves behind would change what every later test, and every child process it
# starts, does with that signal (SIG_IGN is inherited across exec).
_STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


@pytest.hookimpl(optionalhook=True)  # pytest-xdist's hook
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """``-n auto`` (pyproject's addopts): two workers a CPU, from 2 to 8. Most tests wait on
    child processes, sockets and paced frames, not on a core. ``PYTEST_XDIST_AUTO_NUM_WORKERS``
    is left to pytest-xdist's own hook, which reads it."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(2, min(8, 2 * (cpus or 1)))


_turns: list[Turns] = []  # this process's hold on the suite's turns, made at its first test


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests marked ``alone`` first: each waits for every running test to end, and at the
    start of a run those are short ones. Then those marked ``local_ray``: one at a time on the
    machine and long, they run beside the rest of the suite from its start."""
    items.sort(
        key=lambda item: (
            item.get_closest_marker("alone") is None,
            item.get_closest_marker("local_ray") is None,
        )
    )


@pytest.hookimpl(hookwrapper=True, tryfirst=True)  # around pytest-timeout's: a wait is no hang
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    """Each test runs in its turn (tests/alone.py): beside others, or alone if it is marked so,
    from its setup to its teardown; one that starts a local Ray instance when no other does."""
    if not _turns:
        _turns.append(Turns())
    _turns[0].enter(
        alone=item.get_closest_marker("alone") is not None,
        local_ray=item.get_closest_marker("local_ray") is not None,
    )
    try:
        yield
    finally:
        _turns[0].leave()


@pytest.fixture(autouse=True)
def _process_state_restored() -> Iterator[None]:
    """Stop whatever logger a test configured, so its writer thread and hooks do not leak; then
    every test must have left the stop signals' handlers and the working directory as it found
    them (a worker runs other tests after it, in no fixed order). A log record factory
    installed meanwhile is taken back: importing Ray installs one for the whole process, and a
    logging test that a worker runs after a Ray test must see plain records."""
    before = {signum: signal.getsignal(signum) for signum in _STOP_SIGNALS}
    factory = logging.getLogRecordFactory()
    cwd = os.getcwd()
    yield
    get_logger().stop()
    logging.setLogRecordFactory(factory)
    after = {signum: signal.getsignal(signum) for signum in _STOP_SIGNALS}
    changed = {signal.Signals(n).name: after[n] for n in _STOP_SIGNALS if after[n] != before[n]}
    for signum, handler in before.items():
        signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
    moved_to = os.getcwd()
    os.chdir(cwd)
    assert not changed, f"the test left signal handlers behind: {changed}"
    assert moved_to == cwd, f"the test left the working directory at {moved_to}"


@pytest.fixture
def logs_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Whatever logs where the implicit defaults say (workers, a supervisor, a driver) logs
    here: ``FRAMEPIPE_LOG_DIR`` is a ``logs`` directory under the test's temporary one."""
    log_dir = tmp_path / "logs"
    monkeypatch.setenv("FRAMEPIPE_LOG_DIR", str(log_dir))
    return log_dir


@pytest.fixture
def own_shm() -> Iterator[SharedMemoryWatch]:
    """The /dev/shm entries this test's processes use, watched for the whole test: ``left()``
    is those still there (other tests, in other workers, make their own meanwhile)."""
    with SharedMemoryWatch() as watch:
        yield watch
