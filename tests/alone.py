"""A test that measures the machine's speed (an answer within 2 s) runs with no other test of
the suite beside it: the ``alone`` marker (conftest.py). A test that starts a local Ray instance
runs with no other such test beside it: the ``local_ray`` marker.

The suite's tests run side by side, in pytest-xdist's workers and in any other run of the suite
on this machine (CI runs two Pythons at once). Each test holds ``Turns`` while it runs: shared
for any test, exclusive for one marked ``alone``. A lock file that every run of this user shares
(``flock``, released by the kernel when a process ends, so a killed run leaves none held) and
a gate in front of it: a test marked ``alone`` takes the gate, so no new test starts, and waits
for the running ones to end; then it runs, and lets the others go on.

A local Ray instance claims every CPU, starts a worker process for each and gives its raylet a
fixed 30 s to register: several starting at once on a loaded machine miss that, or their actors
take minutes to start. A test marked ``local_ray`` takes a third lock file, exclusive, before
its turn.

A wait has a deadline (``WAIT_S``): past it, the test runs anyway rather than hang the suite.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import time
from pathlib import Path

__all__ = ["WAIT_S", "Turns"]

WAIT_S = 15 * 60.0  # longer than any test of the suite takes
POLL_S = 0.05


def _lock(fd: int, operation: int, deadline: float) -> bool:
    """``flock`` without blocking, tried until ``deadline``; False if it never got it."""
    while True:
        try:
            fcntl.flock(fd, operation | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(POLL_S)


class Turns:
    """This process's hold on the lock files in ``directory`` (by default the temporary
    directory, files named after the user): one test at a time, as a worker runs them."""

    def __init__(self, directory: Path | None = None) -> None:
        where = directory if directory is not None else Path(tempfile.gettempdir())
        name = f"framepipe-tests-{os.getuid()}"
        self._gate = os.open(where / f"{name}.gate", os.O_RDONLY | os.O_CREAT, 0o600)
        self._room = os.open(where / f"{name}.lock", os.O_RDONLY | os.O_CREAT, 0o600)
        self._ray = os.open(where / f"{name}.ray", os.O_RDONLY | os.O_CREAT, 0o600)
        self._gate_held = False

    def enter(self, alone: bool, local_ray: bool = False, wait_s: float = WAIT_S) -> bool:
        """Wait for this test's turn: True once it has it, False if ``wait_s`` passed first."""
        deadline = time.monotonic() + wait_s
        # Taken before the gate: a test waiting for Ray's turn holds up no other test.
        if local_ray and not _lock(self._ray, fcntl.LOCK_EX, deadline):
            return False
        if not _lock(self._gate, fcntl.LOCK_EX, deadline):
            return False
        if alone:
            self._gate_held = True  # kept: no other test starts until this one ends
            return _lock(self._room, fcntl.LOCK_EX, deadline)
        try:
            return _lock(self._room, fcntl.LOCK_SH, deadline)
        finally:
            fcntl.flock(self._gate, fcntl.LOCK_UN)

    def leave(self) -> None:
        fcntl.flock(self._room, fcntl.LOCK_UN)
        if self._gate_held:
            fcntl.flock(self._gate, fcntl.LOCK_UN)
            self._gate_held = False
        fcntl.flock(self._ray, fcntl.LOCK_UN)  # held or not

    def close(self) -> None:
        os.close(self._gate)
        os.close(self._room)
        os.close(self._ray)
