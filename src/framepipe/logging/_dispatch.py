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
import traceback
from collections.abc import Iterable, Sequence
from typing import Any

from framepipe.logging._capture import Entry
from framepipe.logging._levels import level_name
from framepipe.logging._sinks import BatchWriteError

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
    """Sends records to the sinks and keeps the ``written``/``errors`` counts.

    Every record handed to ``emit`` is counted once: ``written`` when every sink that wanted it
    took it, ``errors`` when it could not be formatted or a sink failed to write it. A sink with
    ``write_lines(lines)`` (``BatchRotatingFileHandler``) gets each record formatted on its own,
    so a bad record costs only itself, and then the good lines in one call; if it raises
    ``BatchWriteError``, its ``written`` first lines count as written.
    """

    def __init__(self, handlers: Sequence[logging.Handler], stderr: Any = None) -> None:
        self.handlers = list(handlers)
        self.written = 0
        self.errors = 0
        self._stderr = stderr
        self._reported: set[int] = set()
        self._reported_bad_record = False
        self._failed = False
        # Sinks that take formatted lines in a batch (duck-typed, like BatchRotatingFileHandler).
        self._line_sinks = {
            id(h) for h in self.handlers if callable(getattr(h, "write_lines", None))
        }
        for handler in self.handlers:
            # handleError is logging's hook for failures inside emit(); replace the per-record
            # traceback it prints with a count and a one-time report. close() puts back the
            # handler's own (an earlier Dispatcher's hook is never taken for it).
            own = vars(handler).get("handleError")
            own = getattr(own, "handlers_own", own)
            handler.handleError = self._make_error_hook(handler, own)  # type: ignore[method-assign]

    def emit(self, records: Sequence[logging.LogRecord], *, count: bool = True) -> None:
        """Hand ``records`` to every sink; ``count=False`` for the logger's own notices."""
        failed: set[int] = set()  # positions of records some sink could not take
        for handler in self.handlers:
            if id(handler) in self._line_sinks:
                failed.update(self._emit_lines(handler, records))
            else:
                failed.update(self._emit_each(handler, records))
        if count:
            self.written += len(records) - len(failed)
            self.errors += len(failed)

    def _emit_lines(self, handler: Any, records: Sequence[logging.LogRecord]) -> list[int]:
        """Format each record for ``handler`` on its own, then write the good lines at once."""
        failed: list[int] = []
        lines: list[str] = []
        positions: list[int] = []
        for i, record in enumerate(records):
            line = self._format_one(handler, record)
            if line is None:
                failed.append(i)
            elif line:
                lines.append(line)
                positions.append(i)
        if lines:
            try:
                handler.write_lines(lines)
            except BatchWriteError as exc:  # its first ``written`` lines reached the sink
                self.report(handler, exc.cause)
                failed.extend(positions[exc.written:])
            except Exception as exc:
                self.report(handler, exc)
                failed.extend(positions)
        return failed

    def _format_one(self, handler: logging.Handler, record: logging.LogRecord) -> str | None:
        """The line ``handler`` writes for ``record``: "" if it does not want it, None if bad."""
        try:
            if record.levelno < handler.level or not handler.filter(record):
                return ""
            return handler.format(record) + getattr(handler, "terminator", "\n")
        except Exception as exc:
            self.report_bad_record(record, exc)
            return None

    def _emit_each(
        self, handler: logging.Handler, records: Sequence[logging.LogRecord]
    ) -> list[int]:
        failed: list[int] = []
        for i, record in enumerate(records):
            self._failed = False
            try:
                handler.handle(record)
            except Exception as exc:  # a handler whose emit() does not catch
                self._report_failure(handler, record, exc)
            if self._failed:
                failed.append(i)
        try:
            handler.flush()
        except Exception as exc:
            self.report(handler, exc)
        return failed

    def _make_error_hook(self, handler: logging.Handler, handlers_own: Any) -> Any:
        def handle_error(record: logging.LogRecord) -> None:
            self._report_failure(handler, record, sys.exc_info()[1])

        hook: Any = handle_error
        hook.dispatcher = self
        hook.handlers_own = handlers_own  # what close() puts back (None: the class's method)
        return hook

    def _report_failure(
        self, handler: logging.Handler, record: logging.LogRecord, exc: BaseException | None
    ) -> None:
        """A record whose own message cannot be rendered is bad; otherwise the sink failed."""
        if _message_fails(record):
            self.report_bad_record(record, exc)
        else:
            self.report(handler, exc)

    def report(self, handler: logging.Handler, exc: BaseException | None) -> None:
        """Mark the current record failed; say so on stderr the first time this sink fails."""
        self._failed = True
        if id(handler) in self._reported:
            return
        self._reported.add(id(handler))
        what = f"{type(exc).__name__}: {exc}" if exc is not None else "unknown error"
        self._write_stderr(
            f"framepipe.logging: sink {handler!r} failed ({what}); "
            "further failures are counted in get_stats()['errors']\n"
        )

    def report_bad_record(self, record: logging.LogRecord, exc: BaseException | None) -> None:
        """Mark the current record failed; the first time, print what logging's handleError does."""
        self._failed = True
        if self._reported_bad_record:
            return
        self._reported_bad_record = True
        lines = ["--- Logging error ---\n"]
        if exc is not None:
            lines += traceback.format_exception(exc)
        if record.lineno:
            lines.append(f"Logged from file {record.pathname}, line {record.lineno}\n")
        lines.append(f"Message: {_safe_repr(record.msg)}\nArguments: {_safe_repr(record.args)}\n")
        lines.append(
            "framepipe.logging: that record was not written; further records that cannot be "
            "formatted are counted in get_stats()['errors']\n"
        )
        self._write_stderr("".join(lines))

    def _write_stderr(self, text: str) -> None:
        stream = self._stderr or sys.stderr
        try:
            stream.write(text)
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
            hook: Any = vars(handler).get("handleError")
            if getattr(hook, "dispatcher", None) is self:  # not taken over by a newer Dispatcher
                if hook.handlers_own is None:
                    vars(handler).pop("handleError")
                else:
                    vars(handler)["handleError"] = hook.handlers_own


def _message_fails(record: logging.LogRecord) -> bool:
    """Whether the record's own message cannot be rendered (a bad record, not a bad sink)."""
    try:
        record.getMessage()
    except Exception:
        return True
    return False


def _safe_repr(value: object) -> str:
    try:
        return repr(value)
    except Exception as exc:
        return f"<repr failed: {type(exc).__name__}>"
