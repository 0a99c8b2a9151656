"""Turning captured entries into lines and records, and handing them to the sinks.

Runs on the writer thread in async mode and on the caller's thread in sync mode. A failing sink is
counted in ``errors`` and reported once on stderr; it never raises into the thread that called.
"""

from __future__ import annotations

import logging
import re
import sys
import traceback
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from framepipe.logging._capture import ENTRY_LENGTH, EXC_INFO, EXTRA, LEVELNO, Entry
from framepipe.logging._fastformat import CompiledFormat, compile_format, format_key
from framepipe.logging._notes import stderr_note, write_stderr
from framepipe.logging._records import build_record, stamp_record
from framepipe.logging._sinks import BatchRotatingFileHandler, BatchWriteError

__all__ = ["Dispatcher", "Item", "build_record", "needs_fields"]

# What the writer hands over: a captured entry, or a record from a plain ``logging`` logger.
Item = Entry | logging.LogRecord

_CALLER_FIELDS = re.compile(r"(pathname|filename|module|funcName|lineno)\b")
_THREAD_NAME_FIELD = re.compile(r"threadName\b")
# Records formatted between two looks at the writer's time budget (see Writer.checkpoint).
CHECK_EVERY = 8
# Handler attributes that, set on the instance, change what a line is: no fast path then.
_HANDLER_OVERRIDES = ("format", "filter", "handle", "emit", "write_lines")


def needs_fields(handlers: Iterable[logging.Handler]) -> tuple[bool, bool]:
    """Whether any handler's format shows caller fields, and whether it shows the thread name."""
    caller = thread_name = False
    for handler in handlers:
        fmt = getattr(handler.formatter, "_fmt", None) or ""
        caller = caller or bool(_CALLER_FIELDS.search(fmt))
        thread_name = thread_name or bool(_THREAD_NAME_FIELD.search(fmt))
    return caller, thread_name


class _Batch:
    """The items of one ``emit``, with their ``LogRecord``s built only when a sink needs one."""

    __slots__ = ("dispatcher", "items", "records", "unbuildable")

    def __init__(self, items: Sequence[Item], dispatcher: Dispatcher) -> None:
        self.items = items
        self.dispatcher = dispatcher
        self.records: dict[int, logging.LogRecord] = {}
        self.unbuildable: set[int] = set()  # malformed entries: an error each, for every sink

    def record(self, i: int) -> logging.LogRecord | None:
        item = self.items[i]
        if isinstance(item, logging.LogRecord):
            return stamp_record(item)  # so that %(stream)s and %(seq)d format it too
        record = self.records.get(i)
        if record is None and i not in self.unbuildable:
            try:
                record = self.records[i] = build_record(item)
            except Exception as exc:  # a malformed entry (a bug upstream) costs one error
                self.unbuildable.add(i)
                self.dispatcher.report(WRITER_ITSELF, exc)
        return record


class Dispatcher:
    """Sends records to the sinks and keeps the ``written``/``errors`` counts.

    Every record handed to ``emit`` is counted once: ``written`` when every sink that wanted it
    took it, ``errors`` when it could not be formatted or a sink failed to write it. A sink with
    ``write_lines(lines)`` (``BatchRotatingFileHandler``) gets each record formatted on its own,
    so a bad record costs only itself, and then the good lines in one call; if it raises
    ``BatchWriteError``, its ``written`` first lines count as written. Records reach the sinks
    as captured entries: a ``LogRecord`` is built only for a sink that needs one, and the plain
    ``BatchRotatingFileHandler`` mostly does not (``_fast_format``).
    """

    def __init__(self, handlers: Sequence[logging.Handler], stderr: Any = None) -> None:
        self.handlers = list(handlers)
        self.written = 0
        self.errors = 0
        self._stderr = stderr
        self._reported: set[int] = set()
        self._reported_bad_record = False
        self._failed = False
        self._compiled: dict[int, tuple[tuple[Any, ...], CompiledFormat | None]] = {}
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

    def emit(
        self, items: Sequence[Item], *, count: bool = True,
        checkpoint: Callable[[], None] | None = None,
    ) -> None:
        """Hand ``items`` to every sink; ``count=False`` for the logger's own notices.

        ``checkpoint`` is called every ``CHECK_EVERY`` records while they are formatted: the
        writer's chance to give the GIL away in the middle of a batch.
        """
        batch = _Batch(items, self)
        failed: set[int] = set()  # positions of items some sink could not take
        for handler in self.handlers:
            if id(handler) in self._line_sinks:
                failed.update(self._emit_lines(handler, batch, checkpoint))
            else:
                failed.update(self._emit_each(handler, batch, checkpoint))
        failed |= batch.unbuildable
        if count:
            self.written += len(items) - len(failed)
            self.errors += len(failed)

    def _emit_lines(
        self, handler: Any, batch: _Batch, checkpoint: Callable[[], None] | None
    ) -> list[int]:
        """Format each item for ``handler`` on its own, then write the good lines at once.

        Plain entries go straight from the entry to the line when the handler allows it
        (``_fast_format``); anything else goes through its ``LogRecord`` and the handler.
        """
        failed: list[int] = []
        fast = self._fast_format(handler, getattr(handler, "terminator", "\n"))
        if fast is not None:
            fast.reset()
        lines = self._all_fast(handler, fast, batch.items, checkpoint)
        positions: Sequence[int]
        if lines is not None:
            positions = range(len(lines))
        else:
            lines, positions, failed = self._each_line(handler, fast, batch, checkpoint)
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

    def _all_fast(
        self, handler: Any, fast: CompiledFormat | None, items: Sequence[Item],
        checkpoint: Callable[[], None] | None,
    ) -> list[str] | None:
        """Every item's line by the compiled format, or None if one needs ``_each_line``.

        The common case costs one ``map`` per chunk; a record that is not plain, fails or
        cannot be encoded sends the whole batch through ``_each_line``, which finds it.
        """
        if fast is None or handler.level > logging.NOTSET:
            return None
        lines: list[str] = []
        fast_format = fast.format
        try:
            for start in range(0, len(items), CHECK_EVERY):
                lines += map(fast_format, items[start:start + CHECK_EVERY])
                if checkpoint is not None:
                    checkpoint()
        except Exception:
            return None
        check_line = getattr(handler, "check_encodable", None)
        if check_line is not None and not all(map(str.isascii, lines)):
            try:
                for line in lines:
                    if not line.isascii():
                        check_line(line)
            except Exception:
                return None
        return lines

    def _each_line(
        self, handler: Any, fast: CompiledFormat | None, batch: _Batch,
        checkpoint: Callable[[], None] | None,
    ) -> tuple[list[str], list[int], list[int]]:
        """The lines, their items' positions, and the positions of records that failed."""
        failed: list[int] = []
        lines: list[str] = []
        positions: list[int] = []
        fast_format = fast.format if fast is not None else None
        level = handler.level
        check_line = getattr(handler, "check_encodable", None)
        for i, item in enumerate(batch.items):
            if checkpoint is not None and i % CHECK_EVERY == CHECK_EVERY - 1:
                checkpoint()
            line: str | None
            if (
                fast_format is not None and item.__class__ is tuple and len(item) == ENTRY_LENGTH
                and item[EXC_INFO] is None and item[EXTRA] is None  # no exception, no extra
            ):
                if item[LEVELNO] < level:
                    continue
                try:
                    line = fast_format(item)
                except Exception as exc:
                    self._report_bad_item(batch, i, exc)
                    failed.append(i)
                    continue
            else:
                record = batch.record(i)
                if record is None:
                    continue  # unbuildable: counted once for the batch
                line = self._format_one(handler, record)
                if line is None:
                    failed.append(i)
                    continue
                if not line:
                    continue
            if check_line is not None and not line.isascii():
                try:
                    check_line(line)
                except Exception as exc:  # e.g. a lone surrogate: this line only
                    self._report_bad_item(batch, i, exc)
                    failed.append(i)
                    continue
            lines.append(line)
            positions.append(i)
        return lines, positions, failed

    def _fast_format(self, handler: logging.Handler, terminator: str) -> CompiledFormat | None:
        """The compiled format for framepipe's file sink as it is set up now, else None.

        Only the exact ``BatchRotatingFileHandler``, with no filter and nothing overridden on
        the instance: then a line is ``formatter.format(record) + terminator`` and nothing else.
        """
        if (
            type(handler) is not BatchRotatingFileHandler
            or handler.filters
            or any(name in vars(handler) for name in _HANDLER_OVERRIDES)
        ):
            return None
        key = format_key(handler.formatter, terminator)
        cached = self._compiled.get(id(handler))
        if cached is None or cached[0] != key:
            compiled = compile_format(handler.formatter, terminator)
            cached = self._compiled[id(handler)] = (key, compiled)
        return cached[1]

    def _report_bad_item(self, batch: _Batch, i: int, exc: Exception) -> None:
        record = batch.record(i)
        if record is not None:
            self.report_bad_record(record, exc)

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
        self, handler: logging.Handler, batch: _Batch, checkpoint: Callable[[], None] | None
    ) -> list[int]:
        failed: list[int] = []
        for i in range(len(batch.items)):
            if checkpoint is not None and i % CHECK_EVERY == CHECK_EVERY - 1:
                checkpoint()
            record = batch.record(i)
            if record is None:
                continue  # unbuildable: counted once for the batch
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
        stderr_note(
            f"sink {handler!r} failed ({what}); "
            "further failures are counted in get_stats()['errors']",
            self._stderr,
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
        write_stderr("".join(lines), self._stderr)
        stderr_note(
            "that record was not written; further records that cannot be formatted are "
            "counted in get_stats()['errors']",
            self._stderr,
        )

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


class _WriterItself(logging.Handler):
    """Stands for the writer in reports of its own failures (not a sink's)."""

    def __repr__(self) -> str:
        return "<framepipe log writer>"


WRITER_ITSELF = _WriterItself()


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
