"""Several copies of the processor chain working on frames at once, for one stream.

The frame loop submits each frame it takes with its sequence number and later asks for the
output of the oldest one (:meth:`FrameWorkers.wait`), so outputs are handed on in frame order
whatever order the workers finish in. At most ``workers`` frames are in flight: the loop takes a
frame only when one is free.

- :class:`ThreadWorkers`: threads of this process, one processor chain each. For processors
  that release the GIL (OpenCV, numpy, onnxruntime).
- :class:`ProcessWorkers`: processes of their own (started with ``spawn``), one processor chain
  each. Frames travel through a ring of shared-memory slots, one per worker: the loop copies the
  frame into the worker's slot, only the slot's index and the frame's shape cross the pipe, the
  worker writes its output back into the slot. Results (small values) travel pickled. The ring
  is created and unlinked by this process; a worker that dies (SIGKILL included) leaves nothing
  behind, and if this process itself is killed, multiprocessing's resource tracker unlinks it.

A processor that raises comes back as that frame's error; a worker process that dies comes back
as a :class:`WorkerDied` error for the frame it held, and a new process takes its place.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import signal
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.connection import wait as wait_for
from multiprocessing.process import BaseProcess
from multiprocessing.shared_memory import SharedMemory
from typing import Any, Protocol

import numpy as np

from framepipe._closing import Closing
from framepipe._text import one_line
from framepipe.pipeline.config import WorkerKind
from framepipe.pipeline.processors import get_processor, load_import_path, resolve_processor
from framepipe.typing import Frame, ProcessorSpec

__all__ = [
    "Done",
    "FrameWorkers",
    "ProcessWorkers",
    "ThreadWorkers",
    "WorkerDied",
    "check_parallel_safe",
    "check_workers",
    "open_workers",
]

JOIN_TIMEOUT_S = 5.0  # a worker still busy after this long at the end is left (thread) or killed
START_TIMEOUT_S = 60.0  # a spawned worker imports numpy and OpenCV before its first frame


class WorkerDied(RuntimeError):
    """The worker process that held a frame ended without answering (killed, crashed)."""


@dataclass(frozen=True)
class Done:
    """One frame's outcome: the processor's return value, or the error it raised."""

    seq: int
    output: object
    error: BaseException | None
    worker: int  # which worker ran it


class FrameWorkers(Protocol):
    """What the frame loop needs of a pool of workers."""

    workers: int

    def submit(self, seq: int, image: Frame) -> None: ...
    def wait(self, seq: int, timeout: float) -> Done | None: ...
    def busy_s(self) -> list[float]: ...
    def close(self) -> object: ...


def check_parallel_safe(spec: ProcessorSpec, workers: int) -> None:
    """ValueError naming the first step of ``spec`` that declares ``parallel_safe = False``,
    when ``workers`` > 1."""
    if workers <= 1 or spec is None:
        return
    items: Iterable[object] = [spec] if isinstance(spec, str) or callable(spec) else list(spec)
    for item in items:
        target: Any = item
        if isinstance(item, str):
            target = load_import_path(item) if ":" in item else get_processor(item)
        if getattr(target, "parallel_safe", True) is False:
            name = item if isinstance(item, str) else getattr(item, "__name__", repr(item))
            raise ValueError(
                f"processor {name!r} is not safe to run in parallel (parallel_safe = False): "
                f"it needs workers=1, but got {workers}"
            )


def check_workers(spec: ProcessorSpec, workers: int, kind: WorkerKind) -> None:
    """ValueError when ``spec`` cannot run on ``workers`` workers of ``kind``: a step that is not
    parallel-safe, or (processes) a processor that cannot be sent to another process."""
    check_parallel_safe(spec, workers)
    if kind == "process":
        _pickled(spec)


def _pickled(spec: ProcessorSpec) -> bytes:
    try:
        return pickle.dumps(spec)
    except Exception as exc:
        raise ValueError(
            f"processor {spec!r} cannot be sent to a worker process ({one_line(exc)}): "
            "name it by import path, 'package.module:function'"
        ) from None


def open_workers(
    spec: ProcessorSpec, workers: int, kind: WorkerKind, cv_threads: int | None = None
) -> FrameWorkers:
    """``workers`` copies of the processor chain ``spec``, as threads or processes."""
    if kind == "process":
        return ProcessWorkers(spec, workers, cv_threads=cv_threads)
    return ThreadWorkers(spec, workers)


class ThreadWorkers(Closing):
    """``workers`` threads, each with its own processor chain built from ``spec``."""

    def __init__(self, spec: ProcessorSpec, workers: int) -> None:
        self.workers = workers
        self._chains = [resolve_processor(spec)[0] for _ in range(workers)]
        self._jobs: list[tuple[int, Frame] | None] = []
        self._done: dict[int, Done] = {}
        self._busy = [0.0] * workers
        self._cond = threading.Condition()
        self._closed = False
        self._threads = [
            threading.Thread(
                target=self._run, args=(index,), name=f"framepipe-worker-{index}", daemon=True
            )
            for index in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, seq: int, image: Frame) -> None:
        with self._cond:
            self._jobs.append((seq, image))  # at most ``workers`` long: the loop waits first
            self._cond.notify_all()

    def wait(self, seq: int, timeout: float) -> Done | None:
        with self._cond:
            if self._cond.wait_for(lambda: seq in self._done, timeout):
                return self._done.pop(seq)
        return None

    def busy_s(self) -> list[float]:
        return list(self._busy)

    def close(self) -> None:
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._jobs.clear()
            self._jobs.extend([None] * self.workers)  # one end marker each
            self._cond.notify_all()
        deadline = time.monotonic() + JOIN_TIMEOUT_S
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _run(self, index: int) -> None:
        chain = self._chains[index]
        while True:
            with self._cond:
                self._cond.wait_for(lambda: bool(self._jobs))
                job = self._jobs.pop(0)
            if job is None:
                return
            seq, image = job
            started = time.perf_counter()
            try:
                done = Done(seq, chain(image), None, index)
            except Exception as exc:
                done = Done(seq, None, exc, index)
            self._busy[index] += time.perf_counter() - started
            with self._cond:
                self._done[seq] = done
                self._cond.notify_all()


# --- process workers ------------------------------------------------------------------------


@dataclass
class _Process:
    process: BaseProcess
    conn: Connection
    ready: bool = False  # its processor chain is built
    seq: int | None = None  # the frame it holds
    ring: str | None = None  # the ring it was told about


class ProcessWorkers(Closing):
    """``workers`` processes, each with its own processor chain built from ``spec``; frames in
    shared memory, one slot per worker, sized from the first frame.

    The constructor returns once every worker has built its chain (so a run's clock does not
    count their start), and raises ValueError when one cannot. A frame submitted while no worker
    is free (a replacement still starting) waits in a backlog of at most ``workers`` frames.
    """

    def __init__(self, spec: ProcessorSpec, workers: int, *, cv_threads: int | None = None) -> None:
        self._spec = _pickled(spec)
        self.workers = workers
        self._cv_threads = cv_threads if cv_threads is not None else 1
        self._context = multiprocessing.get_context("spawn")
        self._ring: SharedMemory | None = None
        self._slot_bytes = 0
        self._done: dict[int, Done] = {}
        self._backlog: list[tuple[int, Frame]] = []
        self._busy = [0.0] * workers
        self._closed = False
        self._procs: list[_Process | None] = [None] * workers
        try:
            for index in range(workers):
                self._procs[index] = self._start()
            deadline = time.monotonic() + START_TIMEOUT_S
            while not all(p is not None and p.ready for p in self._procs):
                if time.monotonic() >= deadline:
                    raise RuntimeError(f"worker processes did not start in {START_TIMEOUT_S:g} s")
                self._collect(min(0.1, deadline - time.monotonic()), starting=True)
        except BaseException:
            self.close()
            raise

    def _start(self) -> _Process:
        ours, theirs = self._context.Pipe()
        process = self._context.Process(
            target=_process_main,
            args=(theirs, self._spec, self._cv_threads),
            name="framepipe-worker",
            daemon=True,
        )
        process.start()
        theirs.close()
        return _Process(process, ours)

    def submit(self, seq: int, image: Frame) -> None:
        self._backlog.append((seq, image))
        self._dispatch()

    def _dispatch(self) -> None:
        """Hand backlogged frames to the free workers, oldest first."""
        for index, worker in enumerate(self._procs):
            if not self._backlog:
                return
            if worker is None or not worker.ready or worker.seq is not None:
                continue
            if not worker.process.is_alive():  # died idle: replaced, and no frame lost to it
                self._died(index, worker)
                continue
            seq, image = self._backlog.pop(0)
            self._send(index, worker, seq, image)

    def _send(self, index: int, worker: _Process, seq: int, image: Frame) -> None:
        ring = self._ring_for(image.nbytes)
        if image.nbytes > self._slot_bytes:
            # A frame larger than the first one (a stream that changed size) cannot travel.
            error = ValueError(
                f"frame of {image.nbytes} bytes does not fit the shared-memory slots of "
                f"{self._slot_bytes} bytes sized from the first frame"
            )
            self._done[seq] = Done(seq, None, error, index)
            return
        slot = np.ndarray(
            image.shape, image.dtype, buffer=ring.buf, offset=index * self._slot_bytes
        )
        np.copyto(slot, image)
        del slot
        worker.seq = seq
        try:
            if worker.ring != ring.name:
                worker.conn.send(("ring", ring.name, self._slot_bytes))
                worker.ring = ring.name
            worker.conn.send((seq, index, image.shape, image.dtype.str))
        except (OSError, ValueError):
            pass  # it died: its sentinel fails the frame at the next wait

    def _ring_for(self, nbytes: int) -> SharedMemory:
        if self._ring is None:
            self._slot_bytes = max(1, nbytes)
            self._ring = SharedMemory(create=True, size=self._slot_bytes * self.workers)
        return self._ring

    def wait(self, seq: int, timeout: float) -> Done | None:
        deadline = time.monotonic() + timeout
        while seq not in self._done:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self._collect(left)
        return self._done.pop(seq)

    def busy_s(self) -> list[float]:
        return list(self._busy)

    def _collect(self, timeout: float, *, starting: bool = False) -> None:
        """Take every answer that came within ``timeout``; a dead worker fails its frame."""
        live = [p for p in self._procs if p is not None]
        ready = wait_for([p.conn for p in live] + [p.process.sentinel for p in live], timeout)
        for index, worker in enumerate(self._procs):
            if worker is None:
                continue
            if worker.conn in ready:
                try:
                    while worker.conn.poll():
                        self._answer(index, worker, worker.conn.recv())
                except (EOFError, OSError):
                    pass  # its sentinel says it ended
            if worker.process.sentinel in ready or not worker.process.is_alive():
                if starting:
                    code = _describe_end(worker.process.exitcode)
                    raise RuntimeError(f"worker process {worker.process.pid} {code} as it started")
                self._died(index, worker)
        self._dispatch()

    def _answer(self, index: int, worker: _Process, message: Any) -> None:
        if message[0] == "ready":
            worker.ready = True
            return
        if message[0] == "failed":
            raise ValueError(message[1])
        seq, shape, dtype, results, error, busy_s = message
        self._busy[index] += busy_s
        worker.seq = None
        if error is not None:
            self._done[seq] = Done(seq, None, error, index)
            return
        assert self._ring is not None
        view = np.ndarray(
            shape, np.dtype(dtype), buffer=self._ring.buf, offset=index * self._slot_bytes
        )
        frame = np.array(view)  # the slot is reused for the worker's next frame
        del view
        self._done[seq] = Done(seq, frame if results is None else (frame, results), None, index)

    def _died(self, index: int, worker: _Process) -> None:
        worker.process.join(JOIN_TIMEOUT_S)
        how = _describe_end(worker.process.exitcode)
        if worker.seq is not None:
            error = WorkerDied(f"worker process {worker.process.pid} {how}")
            self._done[worker.seq] = Done(worker.seq, None, error, index)
        worker.conn.close()
        self._procs[index] = None
        if not self._closed:
            self._procs[index] = self._start()  # its replacement, ready when it says so

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            for worker in self._procs:
                if worker is not None:
                    with contextlib.suppress(OSError, ValueError):
                        worker.conn.send(None)
            deadline = time.monotonic() + JOIN_TIMEOUT_S
            for worker in self._procs:
                if worker is not None:
                    worker.process.join(max(0.0, deadline - time.monotonic()))
                    if worker.process.is_alive():
                        worker.process.kill()
                        worker.process.join(JOIN_TIMEOUT_S)
                    worker.conn.close()
        finally:
            self._procs = [None] * self.workers
            self._backlog.clear()
            if self._ring is not None:
                ring, self._ring = self._ring, None
                ring.close()
                with contextlib.suppress(FileNotFoundError):
                    ring.unlink()


def _describe_end(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def _process_main(conn: Connection, spec: bytes, cv_threads: int) -> None:
    """A worker process: build the chain, then process the frames its slot receives until the
    end marker, or until the parent is gone (end of file on the pipe)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    import cv2

    cv2.setNumThreads(cv_threads)
    try:
        chain = resolve_processor(pickle.loads(spec))[0]
    except Exception as exc:
        conn.send(("failed", f"worker process could not build the processor: {one_line(exc)}"))
        os._exit(1)
    conn.send(("ready",))
    ring: SharedMemory | None = None
    slot_bytes = 0
    try:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                return
            if message is None:
                return
            if message[0] == "ring":
                if ring is not None:
                    ring.close()
                # Attached, not owned: the parent unlinks it (and the resource tracker, which
                # this process shares with it, if the parent is killed).
                ring = SharedMemory(name=message[1])
                slot_bytes = message[2]
                continue
            seq, index, shape, dtype = message
            assert ring is not None
            answer = _process_one(chain, ring, index * slot_bytes, slot_bytes, seq, shape, dtype)
            try:
                conn.send(answer)
            except (pickle.PicklingError, TypeError, AttributeError) as exc:
                # Results that cannot be pickled fail their frame, not the worker.
                conn.send((seq, None, None, None, RuntimeError(one_line(exc)), answer[-1]))
    finally:
        if ring is not None:
            with contextlib.suppress(BufferError):
                ring.close()
        os._exit(0)  # no atexit work of a spawned interpreter (the parent owns the ring)


def _process_one(
    chain: Any, ring: SharedMemory, offset: int, slot_bytes: int, seq: int, shape: Any, dtype: str
) -> tuple[Any, ...]:
    from framepipe.pipeline.processors import split_output

    started = time.perf_counter()
    image: Frame = np.ndarray(shape, np.dtype(dtype), buffer=ring.buf, offset=offset)
    try:
        frame, results = split_output(chain(image), image)
        frame = np.asarray(frame)
        if frame.nbytes > slot_bytes:
            raise ValueError(
                f"processed frame of {frame.nbytes} bytes is larger than its source frame's "
                f"slot ({slot_bytes} bytes)"
            )
        out: Frame = np.ndarray(frame.shape, frame.dtype, buffer=ring.buf, offset=offset)
        if out.__array_interface__ != frame.__array_interface__:  # not the slot itself
            np.copyto(out, frame)
        answer: tuple[Any, ...] = (seq, frame.shape, frame.dtype.str, results, None)
    except Exception as exc:
        answer = (seq, None, None, None, _portable(exc))
    return (*answer, time.perf_counter() - started)


def _portable(exc: Exception) -> BaseException:
    """``exc`` if it survives pickling, else a RuntimeError that says the same."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return RuntimeError(one_line(exc))
    return exc
