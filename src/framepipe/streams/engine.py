"""Engines run stream jobs somewhere and let the supervisor talk to them.

The interface is small on purpose, so another engine (a cluster's actors) fits the same
supervisor: ``start`` a job, ``wait`` until any worker has news, and per worker read its
``messages``, its ``exit_code``, where it runs (``node``) and why it died when the engine knows
(``death``), and ``stop`` (after the current frame) or ``kill`` it.

:class:`LocalEngine` runs each job in a process of this machine, started with ``spawn`` (or
``forkserver``): never plain ``fork``, which would copy this process's threads' locks (the log
writer's, OpenCV's) in whatever state they are in. Each worker gets one end of a pipe; the pipe
is bounded by the kernel, and the supervisor keeps reading it.
"""

from __future__ import annotations

import multiprocessing
import signal
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any, Literal, Protocol, runtime_checkable

from framepipe.streams._messages import PREVIEW, STOP, WorkerMessage
from framepipe.streams._worker import worker_main
from framepipe.streams.job import StreamJob

__all__ = ["ENGINES", "Engine", "LocalEngine", "StartMethod", "WorkerHandle"]

ENGINES = ("local", "ray")
StartMethod = Literal["spawn", "forkserver"]
WORKER_MODULES = ("framepipe.streams._worker",)  # and with it numpy, OpenCV and the pipeline
JOIN_TIMEOUT_S = 5.0
_MAX_MESSAGES = 100  # read per call, so one chatty worker cannot starve the others


@runtime_checkable
class WorkerHandle(Protocol):
    """One running attempt of one stream, as its supervisor sees it: all it reads of one."""

    @property
    def pid(self) -> int | None: ...

    @property
    def node(self) -> str | None:
        """The machine it runs on, when the engine runs streams elsewhere (Ray); else None."""
        ...

    @property
    def death(self) -> str | None:
        """Why it died, when the engine knows better than its exit code (a Ray actor that was
        lost or restarted); else None."""
        ...

    def messages(self) -> list[WorkerMessage]:
        """What the worker sent since the last call, without waiting."""
        ...

    def exit_code(self) -> int | None:
        """None while it runs; then its exit code (negative: killed by that signal)."""
        ...

    def stop(self) -> None:
        """Ask it to finish the current frame and end."""
        ...

    def kill(self) -> None:
        """End it now."""
        ...

    def close(self) -> None:
        """Release what the handle holds once the worker has ended."""
        ...


class Engine(Protocol):
    """Where workers run."""

    name: str

    def start(self, job: StreamJob) -> WorkerHandle: ...

    def wait(self, workers: Sequence[WorkerHandle], timeout: float) -> None:
        """Return when any worker has a message or has ended, or after ``timeout``."""
        ...


class LocalWorker:
    """A worker process of this machine and the supervisor's end of its pipe."""

    node: str | None = None  # this machine
    death: str | None = None  # its exit code or signal says how it ended

    def __init__(self, process: BaseProcess, conn: Connection) -> None:
        self.process = process
        self.conn = conn
        self._eof = False

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def messages(self) -> list[WorkerMessage]:
        received: list[WorkerMessage] = []
        while not self._eof and len(received) < _MAX_MESSAGES:
            try:
                if not self.conn.poll(0):
                    break
                received.append(self.conn.recv())
            except (EOFError, OSError):
                self._eof = True  # the worker is gone (or closed its end): nothing more comes
        return received

    def exit_code(self) -> int | None:
        return self.process.exitcode

    def stop(self) -> None:
        try:
            self.conn.send(STOP)
        except (OSError, ValueError):
            pass  # already gone: its exit is what the supervisor sees next

    def request_preview(self) -> None:
        """Ask the worker for previews for a while (someone watches it)."""
        try:
            self.conn.send(PREVIEW)
        except (OSError, ValueError):
            pass  # gone: no preview is what the watcher gets

    def kill(self) -> None:
        if self.process.exitcode is None:
            self.process.kill()

    def close(self) -> None:
        self.process.join(JOIN_TIMEOUT_S)
        self.conn.close()
        if self.process.exitcode is not None:
            self.process.close()

    @property
    def waitables(self) -> list[object]:
        items: list[object] = [] if self._eof else [self.conn]
        if self.process.exitcode is None:
            items.append(self.process.sentinel)
        return items


# What a terminal sends to the whole process group (Ctrl-C, a closed terminal): the parent's.
_GROUP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGHUP") if hasattr(signal, name)
)


@contextmanager
def _group_signals_blocked() -> Iterator[None]:
    """Block Ctrl-C and SIGHUP in this thread while a worker is started, so it starts with them
    blocked: a new interpreter still importing would otherwise die of a closed terminal's
    SIGHUP meant for the parent, before it ignores it itself (Python unblocks SIGINT as it
    starts, so a Ctrl-C to the group can still reach a worker that young). Here they wait until
    the block ends."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _GROUP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class LocalEngine:
    """Runs each stream in a worker process on this machine.

    ``preload=True`` (``forkserver`` only) has the fork server import what a worker needs
    (numpy, OpenCV, the pipeline) once, before its first fork, so that a worker starts in a
    fraction of the time. The fork server is one per process: this sets its preload list for
    the whole program (``multiprocessing.set_forkserver_preload``), and does nothing once it
    runs already.
    """

    name = "local"

    def __init__(self, start_method: StartMethod = "spawn", *, preload: bool = False) -> None:
        if start_method not in ("spawn", "forkserver"):
            raise ValueError(
                f"start_method must be 'spawn' or 'forkserver', but got {start_method!r}"
            )
        if preload and start_method != "forkserver":
            raise ValueError(f"preload needs start_method 'forkserver', not {start_method!r}")
        # Both contexts have Process and Pipe; typeshed's get_context() says only BaseContext.
        self._context: Any = multiprocessing.get_context(start_method)
        if preload:
            self._context.set_forkserver_preload(list(WORKER_MODULES))

    def start(self, job: StreamJob) -> LocalWorker:
        ours, theirs = self._context.Pipe(duplex=True)
        process = self._context.Process(
            target=worker_main, args=(job, theirs), name=f"framepipe-{job.name}"
        )
        try:
            with _group_signals_blocked():
                process.start()
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()  # only the worker holds its end: its end-of-file is our death
        return LocalWorker(process, ours)

    def wait(self, workers: Sequence[WorkerHandle], timeout: float) -> None:
        waitables: list[object] = []
        for worker in workers:
            if isinstance(worker, LocalWorker):
                waitables += worker.waitables
        if waitables:
            wait(waitables, timeout)  # type: ignore[arg-type]
        else:
            time.sleep(timeout)  # nothing runs (a restart is due later): the caller's pace
