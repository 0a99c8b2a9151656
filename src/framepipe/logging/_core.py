"""The two cores behind a logger: ``AsyncCore`` (queue + writer thread) and ``SyncCore``.

The caller-side methods here are the hot path: no locks, no formatting, no I/O; one entry tuple
of plain values per record.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol, cast

from framepipe.logging import _defaults as default
from framepipe.logging._capture import (
    IMMUTABLE_TYPES,
    LEVELNO,
    find_caller,
    freeze_args,
    may_change,
    normalize_exc_info,
)
from framepipe.logging._dispatch import Dispatcher, Item, needs_fields
from framepipe.logging._levels import level_name
from framepipe.logging._notes import stderr_note
from framepipe.logging._queue import CLOSED, EVICTED, FULL, Marker, RecordQueue
from framepipe.logging._writer import Writer
from framepipe.typing import ChannelStats, LogStats

__all__ = ["AsyncCore", "Core", "SyncCore"]

_immutable = IMMUTABLE_TYPES.issuperset
_time = time.time
_get_ident = threading.get_ident
_current_thread = threading.current_thread

# How long stop() waits for the writer to drain: the durability bound at exit.
STOP_TIMEOUT_S = 30.0

# Numbers every record offered to this process's logger, whichever logger: a record lost
# anywhere after this point (refused, evicted, unwritable, lost between processes) leaves a gap
# in %(seq)d. One counter per process, so a configure() again does not start it over.
_sequence = itertools.count(1)


def _restart_sequence() -> None:
    global _sequence
    _sequence = itertools.count(1)  # a forked child is a process of its own


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_restart_sequence)


class _Channel(Protocol):
    """The parent's end of the log channel (``_channel.ChannelServer``) as a core sees it."""

    def close(self) -> None: ...

    def forget_after_fork(self) -> None: ...

    def stats(self) -> ChannelStats: ...


class Core:
    """What both cores share: sinks, settings and statistics."""

    mode = ""

    def __init__(
        self,
        handlers: Sequence[logging.Handler],
        *,
        level: int,
        log_file: str | None,
        overflow: str,
        protect_level: int,
        dispatcher: Dispatcher | None = None,
    ) -> None:
        self.level = level
        self.log_file = log_file
        self.overflow = overflow
        self.protect_level = protect_level
        self.dispatcher = Dispatcher(handlers) if dispatcher is None else dispatcher
        self.need_caller, self.need_thread_name = needs_fields(handlers)
        self.stopped = False
        self._stop_lock = threading.Lock()
        self._noted_discard = False
        # Called once after stop(): lets configure() take back its process hooks.
        self.on_stop: Callable[[], None] | None = None
        # The formatter configure() made for its own sinks (None: the caller's handlers).
        self.own_formatter: logging.Formatter | None = None
        # Children's records arrive here once address() has opened it (``_channel``).
        self.channel: _Channel | None = None

    def _stopped_now(self) -> None:
        callback, self.on_stop = self.on_stop, None
        if callback is not None:
            callback()

    def _note_discard_after_stop(self) -> None:
        """Say once that records logged after stop() are discarded (they are counted)."""
        if not self._noted_discard:
            self._noted_discard = True
            stderr_note(
                "a record was logged after stop() and discarded; such records are counted in "
                "get_stats()['discarded_after_stop']"
            )

    def _close_channel(self) -> None:
        """Before the queue closes: take in what children have sent, then refuse more."""
        if self.channel is not None:
            self.channel.close()

    def _entry(
        self, level: int, name: str, msg: object, args: tuple[Any, ...], exc_info: object,
        stacklevel: int, extra: dict[str, object] | None, seq: int,
    ) -> tuple[Any, ...]:
        if args and not _immutable(map(type, args)) and may_change(args):
            msg, args = freeze_args(msg, args)
        return (
            _time(), level, name, msg, args,
            normalize_exc_info(exc_info) if exc_info else None,
            _get_ident(),
            find_caller(stacklevel + 2) if self.need_caller else None,
            _current_thread().name if self.need_thread_name else None,
            dict(extra) if extra else None,
            seq, None,
        )

    @staticmethod
    def _number(record: logging.LogRecord) -> None:
        """Give a plain ``logging`` record its place in this process's sequence."""
        if "seq" not in record.__dict__:
            record.seq = next(_sequence)

    def start(self) -> None:
        """Start whatever the core runs in the background."""

    def submit(
        self, level: int, name: str, msg: object, args: tuple[Any, ...], exc_info: object,
        stacklevel: int, extra: dict[str, object] | None,
    ) -> None:
        raise NotImplementedError

    def submit_record(self, record: logging.LogRecord) -> None:
        raise NotImplementedError

    def put_entries(self, entries: Sequence[tuple[Any, ...]]) -> tuple[int, int]:
        """Take records another process captured; ``(accepted, refused)``. May wait for room."""
        raise NotImplementedError

    def flush(self, timeout: float = default.FLUSH_TIMEOUT_S) -> bool:
        raise NotImplementedError

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        raise NotImplementedError

    def reinit_after_fork(self) -> None:
        raise NotImplementedError

    def queue_size(self) -> int:
        raise NotImplementedError

    def stats(self) -> LogStats:
        raise NotImplementedError

    def _shared_stats(self) -> dict[str, Any]:
        """The keys both cores have, first; each core's ``stats()`` adds its counters.

        Built as a dict in the order ``get_stats()`` has always shown its keys (its JSON
        readers see that order); the tests hold the whole against ``LogStats``.
        """
        stats: dict[str, Any] = {
            "mode": self.mode,
            "log_file": self.log_file,
            "level": level_name(self.level),
            "overflow": self.overflow,
            "protect_level": level_name(self.protect_level),
            "written": self.dispatcher.written,
            "errors": self.dispatcher.errors,
        }
        if self.channel is not None:
            stats["channel"] = self.channel.stats()
        return stats


class AsyncCore(Core):
    """Callers enqueue plain values; a writer thread does everything else."""

    mode = "async"

    def __init__(
        self,
        handlers: Sequence[logging.Handler],
        *,
        level: int,
        log_file: str | None,
        overflow: str,
        protect_level: int,
        queue_size: int,
        block_timeout: float,
        dispatcher: Dispatcher | None = None,
    ) -> None:
        super().__init__(
            handlers, level=level, log_file=log_file, overflow=overflow,
            protect_level=protect_level, dispatcher=dispatcher,
        )
        self.queue = RecordQueue(queue_size, overflow, protect_level, block_timeout)
        self.queue.on_first_closed_drop = self._note_discard_after_stop
        self.writer = Writer(self.queue, self.dispatcher)

    def start(self) -> None:
        self.writer.start()

    def submit(
        self, level: int, name: str, msg: object, args: tuple[Any, ...], exc_info: object,
        stacklevel: int, extra: dict[str, object] | None,
    ) -> None:
        seq = next(_sequence)
        queue = self.queue
        items = queue.items
        if len(items) >= queue.soft_limit:
            if not queue.drop_at_once(level):  # refused before anything is captured, or ...
                queue.put_overflow(  # ... a record that may use the reserve, evict or wait
                    self._entry(level, name, msg, args, exc_info, stacklevel, extra, seq), level
                )
            return
        # RecordQueue.put's fast path and _entry, written out: this runs for every record.
        if args and not _immutable(map(type, args)) and may_change(args):
            msg, args = freeze_args(msg, args)
        entry = (
            _time(), level, name, msg, args,
            normalize_exc_info(exc_info) if exc_info else None,
            _get_ident(),
            find_caller(stacklevel + 1) if self.need_caller else None,
            _current_thread().name if self.need_thread_name else None,
            dict(extra) if extra else None,
            seq, None,
        )
        items.append(entry)
        next(queue.accepted_counter)
        if queue.closed:  # stop() closed the queue since the check above
            queue.withdraw_late(entry, level)
        elif queue.writer_idle and (
            len(items) >= queue.wake_backlog or level >= queue.protect_level
        ):
            queue.wake()

    def submit_record(self, record: logging.LogRecord) -> None:
        """Enqueue a record built by a plain ``logging`` logger, without formatting it."""
        args = record.args
        if args and not (type(args) is tuple and _immutable(map(type, args))) and may_change(args):
            try:
                record.msg = record.getMessage()
                record.args = ()
            except Exception:
                pass  # the writer reports the bad format as logging would
        self._number(record)
        self.queue.put(record, record.levelno)

    def put_entries(self, entries: Sequence[tuple[Any, ...]]) -> tuple[int, int]:
        return self.queue.put_batch(entries)

    def flush(self, timeout: float = default.FLUSH_TIMEOUT_S) -> bool:
        if threading.get_ident() == self.queue.writer_ident:
            return False  # called from a sink: waiting for ourselves would deadlock
        if not self.writer.running:
            return not self.queue.items
        marker = Marker("flush")
        self.queue.put_marker(marker)
        return marker.done.wait(timeout)

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        with self._stop_lock:
            if self.stopped:
                return
            self.stopped = True
        self._close_channel()
        self.queue.close()
        self._stopped_now()
        if self.writer.thread is None:
            self.dispatcher.close()
            return
        self.queue.put_marker(Marker("stop"))
        if self.writer.join(timeout):
            self.dispatcher.close()
        else:
            stderr_note(
                f"the log writer did not finish within {timeout:g} s; "
                f"{self.queue.records_waiting()} queued records may be lost"
            )

    def reinit_after_fork(self) -> None:
        """In a forked child the writer thread does not exist: start a fresh one."""
        if self.channel is not None:
            self.channel.forget_after_fork()  # the parent's; its threads are not here
            self.channel = None
        if self.stopped:
            return
        self.dispatcher.written = self.dispatcher.errors = 0  # the child counts its own records
        self.queue.reinit_after_fork()
        self.writer = Writer(self.queue, self.dispatcher)
        self.writer.start()

    def queue_size(self) -> int:
        return self.queue.records_waiting()

    def stats(self) -> LogStats:
        refused = self.queue.drops(FULL, CLOSED)
        return cast("LogStats", {
            **self._shared_stats(),
            "queue_size": self.queue.records_waiting(),
            "queue_maxsize": self.queue.maxsize,
            "listener_running": self.writer.running,
            "accepted": self.queue.accepted,
            "dropped": sum(refused.values()),
            "dropped_by_level": {level_name(k): v for k, v in sorted(refused.items())},
            "evicted": sum(self.queue.drops(EVICTED).values()),
            "discarded_after_stop": sum(self.queue.drops(CLOSED).values()),
            "high_water": self.queue.high_water,
        })


class SyncCore(Core):
    """Same API, but the caller's thread builds and writes each record (for comparison)."""

    mode = "sync"

    def __init__(
        self,
        handlers: Sequence[logging.Handler],
        *,
        level: int,
        log_file: str | None,
        overflow: str,
        protect_level: int,
    ) -> None:
        super().__init__(
            handlers, level=level, log_file=log_file, overflow=overflow,
            protect_level=protect_level,
        )
        self._lock = threading.RLock()
        self.accepted = 0
        self.dropped = 0  # records logged after stop()
        self.dropped_by_level: dict[int, int] = {}

    def submit(
        self, level: int, name: str, msg: object, args: tuple[Any, ...], exc_info: object,
        stacklevel: int, extra: dict[str, object] | None,
    ) -> None:
        entry = self._entry(level, name, msg, args, exc_info, stacklevel, extra, next(_sequence))
        self._write(entry, level)

    def submit_record(self, record: logging.LogRecord) -> None:
        self._number(record)
        self._write(record, record.levelno)

    def put_entries(self, entries: Sequence[tuple[Any, ...]]) -> tuple[int, int]:
        with self._lock:
            if self.stopped:
                for entry in entries:
                    self.dropped += 1
                    level = entry[LEVELNO]
                    self.dropped_by_level[level] = self.dropped_by_level.get(level, 0) + 1
                return 0, len(entries)
            self.accepted += len(entries)
            self.dispatcher.emit(entries)
        return len(entries), 0

    def _write(self, item: Item, level: int) -> None:
        with self._lock:
            if self.stopped:
                self.dropped += 1
                self.dropped_by_level[level] = self.dropped_by_level.get(level, 0) + 1
                self._note_discard_after_stop()
                return
            self.accepted += 1
            self.dispatcher.emit([item])

    def flush(self, timeout: float = default.FLUSH_TIMEOUT_S) -> bool:
        with self._lock:
            self.dispatcher.flush()
        return True

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        with self._lock:
            running = not self.stopped
        if running:
            self._close_channel()  # outside the lock: receivers write through it meanwhile
        with self._lock:
            if self.stopped:
                return
            self.stopped = True
            self.dispatcher.close()
        self._stopped_now()

    def reinit_after_fork(self) -> None:
        if self.channel is not None:
            self.channel.forget_after_fork()
            self.channel = None
        self._lock = threading.RLock()
        self.dispatcher.written = self.dispatcher.errors = 0  # the child counts its own records
        self.accepted = self.dropped = 0
        self.dropped_by_level = {}

    def queue_size(self) -> int:
        return 0

    def stats(self) -> LogStats:
        return cast("LogStats", {
            **self._shared_stats(),
            "queue_size": 0,
            "queue_maxsize": 0,
            "listener_running": False,
            "accepted": self.accepted,
            "dropped": self.dropped,
            "dropped_by_level": {
                level_name(k): v for k, v in sorted(self.dropped_by_level.items())
            },
            "evicted": 0,
            "discarded_after_stop": self.dropped,
            "high_water": 0,
        })
