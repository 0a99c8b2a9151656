"""What the child processes of the log channel tests run (importable by a spawned process)."""

from __future__ import annotations

import os
import signal
import threading

from framepipe.logging import connect, get_logger


def log_records(address: str, stream: str, count: int) -> None:
    """Connect, log ``record 0`` .. ``record count-1``, and end cleanly."""
    log = connect(address, stream=stream)
    for i in range(count):
        log.info("record %d", i)


def log_then_end(address: str, count: int, ending: str) -> None:
    """Log ``count`` records and end at once, while most of them still wait in the queue."""
    log = connect(address, stream="ending", queue_size=2 * count)
    for i in range(count):
        log.info("record %d", i)
    if log.get_queue_size() == 0:
        raise SystemExit(3)  # nothing left to drain: the test would prove nothing
    if ending == "sigterm":
        os.kill(os.getpid(), signal.SIGTERM)
        threading.Event().wait(30)  # the signal ends the process
    elif ending == "thread-exception":
        thread = threading.Thread(target=_fail, name="grabber")
        thread.start()
        thread.join(timeout=30)
    elif ending == "exception":
        _fail()


def _fail() -> None:
    raise RuntimeError("the grabber failed")


def log_then_kill(address: str, flushed: int, more: int, queue_size: int) -> None:
    """Log ``flushed`` records and flush, ``more`` records, then die of SIGKILL."""
    log = connect(address, stream="killed", queue_size=queue_size)
    for i in range(flushed):
        log.info("record %d", i)
    if not log.flush(timeout=30):
        raise SystemExit(3)
    for i in range(flushed, flushed + more):
        log.info("record %d", i)
    os.kill(os.getpid(), signal.SIGKILL)


def pool_task(index: int) -> int:
    """A Pool task: log through whatever connect() set up in this worker."""
    log = get_logger("task")
    for i in range(100):
        log.info("task %d record %d", index, i)
    return os.getpid()


def fork_after_connect(address: str) -> None:
    """A connected process forks: the new process logs through a connection of its own."""
    log = connect(address, stream="family")
    log.info("before the fork")
    pid = os.fork()
    if pid == 0:
        log.info("in the forked process")
        os._exit(0 if log.flush(timeout=30) else 3)  # os._exit skips atexit: flush first
    _, status = os.waitpid(pid, 0)
    log.info("after the fork, the forked process ended with %d", status)
