"""Turning captured entries into ``LogRecord``s and handing them to the sinks.

Runs on the writer thread in async mode and on the caller's thread in sync mode. A failing sink is
counted in ``errors`` and reported once on stderr; it never raises into the thread that called.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
from collections.abc import Iterable, Sequence
from typing import Any

from framepipe.logging._capture import Entry
from framepipe.logging._levels import level_name

__all__ = ["Dispatcher", "build_record", "needs_fields"]

_CALLER_FIELDS = re.compile(r"(pathname|filename|module|funcName|lineno)\b")
_THREAD_NAME_FIELD = re.compile(r"threadName\b")
_START_TIME = getattr(logging, "_startTime", 0.0)


def needs_fields(handlers: Iterable[logging.Handler]) -> tuple[bool, bool]:
    """Whether any handler's format shows caller fields, and whether it shows the thread name."""
    caller = thread_name = False
    for handler in handlers:
        fmt = getattr(handler.formatter, "_fmt", None) or ""
        caller = caller or bool(_CALLER_FIELDS.search(fmt))
        thread_name = thread_name or bool(_THREAD_NAME_FIELD.search(fmt))
    return caller, thread_name


def _thread_name(ident: int) -> str:
    thread = threading._active.get(ident)  # type: ignore[attr-defined]
    return thread.name if thread is not None else f"Thread-{ident}"


def _process_name() -> str:
    # As LogRecord does: ask multiprocessing only if the program already uses it.
    mp = sys.modules.get("multiprocessing")
    if mp is None:
        return "MainProcess"
    try:
        return str(mp.current_process().name)
    except Exception:
        return "MainProcess"


def build_record(entry: Entry) -> logging.LogRecord:
    """Build the ``LogRecord`` for a captured entry, as ``Logger.makeRecord`` would have."""
    created, levelno, name, msg, args, exc_info, ident, caller, thread_name, extra = entry
    pathname, lineno, func = caller if caller is not None else ("", 0, "")
    filename = os.path.basename(pathname)
    record = logging.LogRecord.__new__(logging.LogRecord)
    record_args: Any = args
    if len(args) == 1 and isinstance(args[0], dict) and args[0]:
        record_args = args[0]
    record.__dict__.update(
        name=name, msg=msg, args=record_args, levelname=level_name(levelno), levelno=levelno,
        pathname=pathname, filename=filename, module=os.path.splitext(filename)[0],
        exc_info=exc_info, exc_text=None, stack_info=None, lineno=lineno, funcName=func,
        created=created, msecs=int((created - int(created)) * 1000) + 0.0,
        relativeCreated=(created - _START_TIME) * 1000, thread=ident,
        threadName=thread_name if thread_name is not None else _thread_name(ident),
        processName=_process_name(), process=os.getpid(), taskName=None,
    )
    if extra:
        for key, value in extra.items():
            if key not in record.__dict__:
                record.__dict__[key] = value
    return record


class Dispatcher:
    """Sends records to the sinks and keeps the ``written``/``errors`` counts."""

    def __init__(self, handlers: Sequence[logging.Handler], stderr: Any = None) -> None:
        self.handlers = list(handlers)
        self.written = 0
        self.errors = 0
        self._stderr = stderr
        self._reported: set[int] = set()
        self._failed = False
        for handler in self.handlers:
            # handleError is logging's hook for failures inside emit(); replace the per-record
            # traceback it prints with a count and a one-time report.
            handler.handleError = self._make_error_hook(handler)  # type: ignore[method-assign]

    def emit(self, records: Sequence[logging.LogRecord], *, count: bool = True) -> None:
        """Hand ``records`` to every sink; ``count=False`` for the logger's own notices."""
        failed = 0
        for handler in self.handlers:
            failed = max(failed, self._emit_to(handler, records))
        if count:
            self.written += len(records) - failed
            self.errors += failed

    def _emit_to(self, handler: logging.Handler, records: Sequence[logging.LogRecord]) -> int:
        emit_batch = getattr(handler, "emit_batch", None)
        if emit_batch is not None:
            wanted = [r for r in records if r.levelno >= handler.level and handler.filter(r)]
            try:
                emit_batch(wanted)
            except Exception as exc:
                self.report(handler, exc)
                return len(wanted)
            return 0
        failed = 0
        for record in records:
            self._failed = False
            try:
                handler.handle(record)
            except Exception as exc:  # a handler whose emit() does not catch
                self.report(handler, exc)
            failed += self._failed
        try:
            handler.flush()
        except Exception as exc:
            self.report(handler, exc)
        return failed

    def _make_error_hook(self, handler: logging.Handler) -> Any:
        def handle_error(record: logging.LogRecord) -> None:
            self.report(handler, sys.exc_info()[1])

        return handle_error

    def report(self, handler: logging.Handler, exc: BaseException | None) -> None:
        """Mark the current record failed; say so on stderr the first time this sink fails."""
        self._failed = True
        if id(handler) in self._reported:
            return
        self._reported.add(id(handler))
        stream = self._stderr or sys.stderr
        what = f"{type(exc).__name__}: {exc}" if exc is not None else "unknown error"
        try:
            stream.write(
                f"framepipe.logging: sink {handler!r} failed ({what}); "
                "further failures are counted in get_stats()['errors']\n"
            )
            stream.flush()
        except Exception:
            pass

    def flush(self) -> None:
        for handler in self.handlers:
            try:
                handler.flush()
            except Exception as exc:
                self.report(handler, exc)

    def close(self) -> None:
        for handler in self.handlers:
            try:
                handler.close()
            except Exception as exc:
                self.report(handler, exc)
