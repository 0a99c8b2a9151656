"""The /dev/shm entries of a test's own processes, for the tests that check a run left none.

Tests in other pytest-xdist workers make and remove entries of their own at the same time, so
"no new entry in /dev/shm" would blame this test for theirs. A ``SharedMemoryWatch`` notes,
every ``interval`` seconds while it runs, each entry that this process or one of its
descendants (child processes, their workers, a forkserver) has mapped or open: Python's
semaphores and shared-memory blocks are mapped from the moment they exist until they are
closed. ``left()`` is those that are still in /dev/shm, leaving out any that were there before.

Entries are known by their inode: a semaphore is mapped under the temporary name it was made
with (gone once it is linked under its own), and a name can be reused.
"""

from __future__ import annotations

import os
import threading
from types import TracebackType

__all__ = ["SharedMemoryWatch"]

SHM = "/dev/shm/"


def _tree(root: int) -> list[int]:
    """``root`` and every live process below it (the kernel's list of each thread's children)."""
    found: list[int] = []
    todo = [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{pid}/task/{task}/children") as children:
                    todo.extend(int(child) for child in children.read().split())
            except OSError:
                continue
    return found


def _inodes_of(pid: int) -> set[int]:
    """The inodes of the /dev/shm files ``pid`` has mapped or open."""
    inodes: set[int] = set()
    try:
        with open(f"/proc/{pid}/maps") as maps:
            for line in maps:
                fields = line.split(maxsplit=5)  # address perms offset dev inode path
                if len(fields) == 6 and fields[5].startswith(SHM):
                    inodes.add(int(fields[4]))
    except (OSError, ValueError):
        pass
    try:
        descriptors = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        descriptors = []
    for fd in descriptors:
        path = f"/proc/{pid}/fd/{fd}"
        try:
            if os.readlink(path).startswith(SHM):
                inodes.add(os.stat(path).st_ino)
        except OSError:
            continue
    return inodes


def _in_shm() -> dict[str, int]:
    """Each /dev/shm entry's name and inode."""
    found: dict[str, int] = {}
    try:
        names = os.listdir(SHM)
    except OSError:
        return found
    for name in names:
        try:
            found[name] = os.stat(SHM + name).st_ino
        except OSError:
            continue  # removed meanwhile
    return found


class SharedMemoryWatch:
    """A thread noting the /dev/shm entries of this process and its descendants; a context
    manager (the thread runs within the ``with`` block)."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self._before = set(_in_shm())
        self._seen: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="shm-watch", daemon=True)

    def _sample(self) -> None:
        inodes: set[int] = set()
        for pid in _tree(os.getpid()):
            inodes |= _inodes_of(pid)
        with self._lock:
            self._seen |= inodes

    def _run(self) -> None:
        while True:
            self._sample()
            if self._stop.wait(self.interval):
                return

    def left(self) -> set[str]:
        """The entries the watched processes used that are still in /dev/shm, leaving out
        those that were there before the watch began."""
        self._sample()
        with self._lock:
            seen = set(self._seen)
        return {
            name for name, inode in _in_shm().items()
            if inode in seen and name not in self._before
        }  # fmt: skip

    def __enter__(self) -> SharedMemoryWatch:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(5)
