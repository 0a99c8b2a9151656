"""A connected process's side of the log channel: its writer sends batches instead of writing.

The caller's hot path is the one every logger has (``AsyncCore.submit``): capture, append to the
bounded queue, return. The writer thread hands each batch to ``ChannelSender`` (in the place of
the ``Dispatcher``), which makes its entries portable -- plain values only: a message whose
arguments are objects of the program's own types is rendered here, an exception becomes its
traceback text, ``extra`` values their ``str`` -- stamps them with this process's stream, pid and
process name, and sends them as one message. ``written`` counts the records the parent has
acknowledged (they are in its queue), ``errors`` those that could not be made portable or that
the parent could no longer take; a flush waits until the parent has written what it was sent.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, Protocol

from framepipe.logging import _defaults as default
from framepipe.logging._capture import IMMUTABLE_TYPES, Origin
from framepipe.logging._channel import (
    FLUSH_TIMEOUT_S,
    MAX_IN_FLIGHT,
    RECV_POLL_S,
    open_channel,
)
from framepipe.logging._core import AsyncCore
from framepipe.logging._dispatch import WRITER_ITSELF, Dispatcher, Item
from framepipe.logging._notes import stderr_note
from framepipe.logging._records import build_record, process_name, stream_name, thread_name
from framepipe.typing import ConnectionStats, LogStats

__all__ = ["ChannelSender", "RemoteCore", "Transport"]

_immutable = IMMUTABLE_TYPES.issuperset
# Entries converted between two looks at the writer's time budget (see Writer.checkpoint).
_CHECK_EVERY = 32
# How long stop() waits for the parent to write this process's last records.
BYE_TIMEOUT_S = FLUSH_TIMEOUT_S + 5.0
# Attributes every LogRecord has: the others of a plain logging record are its ``extra``.
_RECORD_FIELDS = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__
) | {"message", "asctime", "stream", "seq", "taskName"}
_format_exception = logging.Formatter().formatException


class Transport(Protocol):
    """What a sender talks through: a ``multiprocessing`` ``Connection``, or any object with
    these four methods (the Ray engine's actor connection). ``send`` raises ``OSError`` or
    ``EOFError`` once the other end is gone; ``recv`` is called only after ``poll`` said yes."""

    def send(self, message: Any, /) -> None: ...

    def poll(self, timeout: float = ..., /) -> bool: ...

    def recv(self) -> Any: ...

    def close(self) -> None: ...


class ChannelBroken(Exception):
    """The parent's end is gone (or was never reached after a fork)."""


class ChannelSender(Dispatcher):
    """Stands in for the ``Dispatcher`` of a connected process: no sinks, one connection."""

    def __init__(self, address: str, conn: Transport) -> None:
        super().__init__([])
        self.address = address
        self._conn: Transport | None = conn
        self._origin: Origin = (stream_name(), os.getpid(), process_name())
        # Counted records of each batch sent and not yet acknowledged, oldest first.
        self._in_flight: deque[int] = deque()
        self._in_flight_records = 0  # their sum, for stats() on other threads
        self.flush_ok = True  # whether the last flush was confirmed by the parent
        self._broken: str | None = None

    # -- the writer's calls ----------------------------------------------------------------------

    def emit(
        self, items: Sequence[Item], *, count: bool = True,
        checkpoint: Callable[[], None] | None = None,
    ) -> None:
        entries: list[tuple[Any, ...]] = []
        for start in range(0, len(items), _CHECK_EVERY):
            for item in items[start:start + _CHECK_EVERY]:
                entry = self._portable(item)
                if entry is not None:
                    entries.append(entry)
                elif count:
                    self.errors += 1
            if checkpoint is not None:
                checkpoint()
        if entries:
            self._send(("batch", entries), len(entries) if count else 0)

    def flush(self) -> None:
        """Return once the parent has written everything sent so far (or cannot)."""
        self.flush_ok = self._request(("flush",), "flushed", FLUSH_TIMEOUT_S)

    def close(self) -> None:
        """Say goodbye once the parent has written everything; then close the connection."""
        self._request(("bye",), "bye", BYE_TIMEOUT_S)
        self._lose_in_flight()
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def reinit_after_fork(self) -> None:
        """In a forked child: the connection is the parent process's; open one of our own."""
        if self._conn is not None:
            try:
                self._conn.close()  # our copy only: the parent process keeps its own
            except OSError:
                pass
        self._conn = None
        self._in_flight.clear()
        self._in_flight_records = 0
        self._origin = (stream_name(), os.getpid(), process_name())

    def stats(self) -> ConnectionStats:
        return ConnectionStats(
            stream=self._origin[0],
            connected=self._broken is None,
            in_flight=self._in_flight_records,
        )

    # -- entries ---------------------------------------------------------------------------------

    def _portable(self, item: Item) -> tuple[Any, ...] | None:
        """``item`` as plain values stamped with this process's origin; None if it cannot be."""
        if item.__class__ is tuple:
            (created, levelno, name, msg, args, exc_info, ident, caller, thread, extra, seq,
             _) = item
            if thread is None:
                thread = thread_name(ident)  # here, where the thread is known
            if (exc_info is None and extra is None and msg.__class__ is str
                    and (not args or _immutable(map(type, args)))):
                return (created, levelno, name, msg, args, None, ident, caller, thread, None, seq,
                        self._origin)
            try:
                if msg.__class__ is not str or (args and not _immutable(map(type, args))):
                    msg, args = self._render(item), ()
                text = exc_info if isinstance(exc_info, str) or exc_info is None else (
                    _format_exception(exc_info))
                return (created, levelno, name, msg, args, text, ident, caller, thread,
                        _plain_extra(extra), seq, self._origin)
            except Exception as exc:
                self._report_item(item, exc)
                return None
        record: Any = item
        try:
            return self._from_record(record)
        except Exception as exc:
            self.report_bad_record(record, exc)
            return None

    def _render(self, item: Any) -> str:
        return build_record(item).getMessage()

    def _from_record(self, record: logging.LogRecord) -> tuple[Any, ...]:
        """A plain ``logging`` record (or the writer's own notice) as an entry."""
        text = record.exc_text
        if record.exc_info and not text:
            text = _format_exception(record.exc_info)
        if record.stack_info:
            text = f"{text}\n{record.stack_info}" if text else record.stack_info
        extra = {k: v for k, v in record.__dict__.items() if k not in _RECORD_FIELDS}
        return (
            record.created, record.levelno, record.name, record.getMessage(), (), text or None,
            record.thread, (record.pathname, record.lineno, record.funcName), record.threadName,
            _plain_extra(extra), record.__dict__.get("seq", 0), self._origin,
        )

    def _report_item(self, item: Any, exc: Exception) -> None:
        try:
            self.report_bad_record(build_record(item), exc)
        except Exception:
            self._failed = True

    # -- the connection --------------------------------------------------------------------------

    def _connection(self) -> Transport:
        if self._broken is not None:
            raise ChannelBroken(self._broken)
        if self._conn is None:  # after a fork
            try:
                self._conn, _ = open_channel(self.address, self._origin[0])
            except (ConnectionError, ValueError) as exc:
                self._break(exc)
        assert self._conn is not None
        return self._conn

    def _send(self, message: tuple[Any, ...], counted: int) -> None:
        try:
            conn = self._connection()
            while len(self._in_flight) >= MAX_IN_FLIGHT:
                self._read(conn, RECV_POLL_S)
            self._transmit(conn, message)
            self._in_flight.append(counted)
            self._in_flight_records += counted
            while conn.poll(0):
                self._read(conn, 0)
        except ChannelBroken:
            self.errors += counted
        except Exception as exc:  # not picklable (a bug: entries are plain by now)
            self.report(WRITER_ITSELF, exc)
            self.errors += counted

    def _request(self, message: tuple[str], answer: str, timeout: float) -> bool:
        """Send ``message`` and read acknowledgements until ``answer`` comes (or ``timeout``)."""
        try:
            conn = self._connection()
            self._transmit(conn, message)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self._read(conn, RECV_POLL_S) == answer:
                    return True
        except ChannelBroken:
            pass
        return False

    def _read(self, conn: Transport, timeout: float) -> str | None:
        """Read one message if one comes within ``timeout``; its kind."""
        try:
            if not conn.poll(timeout):
                return None
            message = conn.recv()
        except (EOFError, OSError) as exc:
            self._break(exc)
        if message[0] == "ack" and self._in_flight:
            counted = self._in_flight.popleft()
            self._in_flight_records -= counted
            if counted:
                accepted, refused = message[1], message[2]
                self.written += accepted
                self.errors += refused
        return str(message[0])

    def _break(self, exc: BaseException) -> NoReturn:
        """The parent is gone: what it did not acknowledge is lost, and so is what follows."""
        if self._broken is None:
            self._broken = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            self._lose_in_flight()
            stderr_note(
                f"the log channel to the parent process is closed ({self._broken}); "
                "records from now on are counted in get_stats()['errors']"
            )
        raise ChannelBroken(self._broken)

    def _lose_in_flight(self) -> None:
        self.errors += self._in_flight_records
        self._in_flight.clear()
        self._in_flight_records = 0

    def _transmit(self, conn: Transport, message: tuple[Any, ...]) -> None:
        try:
            conn.send(message)
        except (OSError, EOFError) as exc:  # a broken pipe: the parent is gone
            self._break(exc)


def _plain_extra(extra: dict[str, object] | None) -> dict[str, object] | None:
    """``extra`` with every value of a type of the program's own replaced by its ``str``."""
    if not extra:
        return None
    return {k: v if type(v) in IMMUTABLE_TYPES else str(v) for k, v in extra.items()}


class RemoteCore(AsyncCore):
    """The core of a connected process: its own queue and writer, the parent's one file."""

    def __init__(self, sender: ChannelSender, settings: dict[str, Any]) -> None:
        super().__init__(
            [], level=settings["level"], log_file=settings.get("log_file"),
            overflow=settings["overflow"], protect_level=settings["protect_level"],
            queue_size=settings["queue_size"], block_timeout=settings["block_timeout"],
            dispatcher=sender,
        )
        self.sender = sender
        # Capture what the parent's sinks show (their formats are there, not here).
        self.need_caller = bool(settings.get("need_caller"))
        self.need_thread_name = bool(settings.get("need_thread_name"))

    def reinit_after_fork(self) -> None:
        if not self.stopped:
            self.sender.reinit_after_fork()
        super().reinit_after_fork()

    def flush(self, timeout: float = default.FLUSH_TIMEOUT_S) -> bool:
        """True once the parent has written every record accepted here so far."""
        return super().flush(timeout) and self.sender.flush_ok

    def stats(self) -> LogStats:
        stats = super().stats()
        stats["channel"] = self.sender.stats()
        return stats
