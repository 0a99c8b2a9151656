"""tests/shm_watch.py: the /dev/shm entries of this process and its descendants are found,
another program's are not."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import textwrap
from multiprocessing import shared_memory
from pathlib import Path

import pytest

from helpers import wait_until
from shm_watch import SharedMemoryWatch

pytestmark = pytest.mark.skipif(not Path("/dev/shm").is_dir(), reason="no /dev/shm here")

# A block made and left behind (the resource tracker told to forget it), its name printed; the
# process waits for a line on stdin before it ends.
LEAVES_A_BLOCK = textwrap.dedent("""
    import sys
    from multiprocessing import resource_tracker, shared_memory
    block = shared_memory.SharedMemory(create=True, size=4096)
    resource_tracker.unregister(block._name, "shared_memory")
    print(block.name, flush=True)
    sys.stdin.readline()
""")


def _unlink(name: str) -> None:
    try:
        os.unlink(f"/dev/shm/{name}")
    except FileNotFoundError:
        pass


def test_a_block_a_child_process_leaves_is_found_one_unlinked_here_is_not() -> None:
    with SharedMemoryWatch(interval=0.01) as watch:
        mine = shared_memory.SharedMemory(create=True, size=4096)
        child = subprocess.Popen(
            [sys.executable, "-c", LEAVES_A_BLOCK],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert child.stdout is not None and child.stdin is not None
        left = child.stdout.readline().strip()
        try:
            wait_until(lambda: {left, mine.name} <= watch.left(), "both blocks seen", 10)
            mine.close()
            mine.unlink()
            child.stdin.close()
            child.wait(30)
            assert watch.left() == {left}
        finally:
            _unlink(left)
    assert watch.left() == set()


def test_a_semaphore_is_found_by_its_own_name() -> None:
    """A semaphore is mapped under the temporary name it was made with, not its own."""
    with SharedMemoryWatch(interval=0.01) as watch:
        lock = multiprocessing.get_context("spawn").Lock()
        name = "sem." + lock._semlock.name.lstrip("/")  # type: ignore[attr-defined]
        assert name in watch.left()
        del lock
        assert name not in watch.left()


# Once ``go`` exists: a block made and left behind, its name written to ``made``; then it waits
# for ``done``. Run as a grandchild whose parent has ended: nobody's descendant here.
ORPHAN = textwrap.dedent("""
    import os, sys, time
    from multiprocessing import resource_tracker, shared_memory
    go, made, done = sys.argv[1:]
    while not os.path.exists(go):
        time.sleep(0.01)
    block = shared_memory.SharedMemory(create=True, size=4096)
    resource_tracker.unregister(block._name, "shared_memory")
    with open(made + ".part", "w") as out:
        out.write(block.name)
    os.rename(made + ".part", made)
    while not os.path.exists(done):
        time.sleep(0.01)
""")


def test_a_block_of_a_process_outside_the_tree_is_not_counted(tmp_path: Path) -> None:
    """Another test's process, in another worker, makes a block while the watch runs."""
    go, made, done = tmp_path / "go", tmp_path / "made", tmp_path / "done"
    starter = (
        "import subprocess, sys\n"
        f"subprocess.Popen([sys.executable, '-c', {ORPHAN!r}, {str(go)!r}, {str(made)!r}, "
        f"{str(done)!r}], start_new_session=True)\n"
    )
    subprocess.run([sys.executable, "-c", starter], timeout=60, check=True)
    try:
        with SharedMemoryWatch(interval=0.01) as watch:
            go.touch()
            wait_until(made.exists, "the other process's block", 30)
            name = made.read_text()
            assert name in os.listdir("/dev/shm")
            assert watch.left() == set()
    finally:
        done.touch()
        if made.exists():
            _unlink(made.read_text())
