"""The compiled format: the lines logging.Formatter makes of a LogRecord, or no compiled one."""

from __future__ import annotations

import io
import logging
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from framepipe.logging._channel import CHANNEL_FORMAT
from framepipe.logging._dispatch import Dispatcher
from framepipe.logging._fastformat import NotPlain, compile_format
from framepipe.logging._records import build_record
from framepipe.logging._sinks import DEFAULT_DATEFMT, DEFAULT_FORMAT, BatchRotatingFileHandler
from helpers import log_entry

NOW = 1_764_400_000.0  # a whole second


class Shown:
    """A user object that renders itself with __str__ and __repr__."""

    def __str__(self) -> str:
        return "shown-str"

    def __repr__(self) -> str:
        return "Shown()"


class BadStr:
    """An argument (or message) whose __str__ raises, as a buggy user type would."""

    def __str__(self) -> str:
        raise RuntimeError("str broke")


class Params(Mapping[str, object]):
    """A mapping that is not a dict: logging still uses it for %(key)s."""

    def __getitem__(self, key: str) -> object:
        return {"w": 640, "h": 480}[key]

    def __iter__(self) -> Iterator[str]:
        return iter(("w", "h"))

    def __len__(self) -> int:
        return 2


class Text(str):
    """A str subclass as a message."""


def entry(msg: object, *args: object, **fields: Any) -> tuple[Any, ...]:
    """``log_entry`` from "framepipe", numbered 1, a quarter second past a whole second, unless
    ``fields`` say otherwise."""
    return log_entry(msg, *args, **{"created": NOW + 0.25, "name": "framepipe", "seq": 1, **fields})


# Entries in order: times go back and forth so a cached second is reused and replaced.
CORPUS = [
    # arguments of every kind
    entry("frame %d took %.2f ms", 7, 4.2),
    entry("%s %s %s %s %s %s", "s", b"b", None, True, 1 + 2j, 3.0),
    entry("%r and %a", "quote'd", "é"),
    entry("tuple %s list %s", (1, 2), [3, 4]),
    entry("object %s %r", Shown(), Shown()),
    entry("width [%-10s] [%5.1f] [%05d] [%x] [%+.3e]", "left", 2.25, 42, 255, 12345.678),
    entry("no args keeps %% and %d as they are"),
    entry("100%% done %d", 3),
    # a single mapping stands for itself, as in LogRecord; an empty one does not
    entry("%(w)dx%(h)d", {"w": 1280, "h": 720}),
    entry("%(w)dx%(h)d", Params()),
    entry("empty %s", {}),
    entry("empty %(a)s", {}),  # TypeError (not a mapping), not KeyError
    entry("two dicts %s %s", {"a": 1}, {"b": 2}),
    # messages that are not plain str
    entry(42),
    entry(Shown()),
    entry(ValueError("an exception as the message")),
    entry(Text("str subclass %s"), "ok"),
    # unicode, newlines
    entry("naïve café ☕ %s", "日本語"),
    entry("emoji 🎥 %s", "🙂", name="cámara"),
    entry("combining e\u0301 and lone \udc80 surrogate"),
    entry("two\nlines %s", "and\r\ncrlf"),
    # bad records: each must fail the same way on both paths
    entry("bad %d", "x"),
    entry("too few %s %s", 1),
    entry("too many %s", 1, 2),
    entry("key %(k)s from a tuple", 1, 2),
    entry("dangling %", 1),
    entry("bad %s", BadStr()),
    entry(BadStr()),
    # times: whole seconds, the last millisecond, back in time, 1970, before 1970
    entry("t", created=NOW),
    entry("t", created=NOW + 0.999),
    entry("t", created=NOW + 1.0005),
    entry("t", created=NOW - 3600.5),
    entry("t", created=0.0),
    entry("t", created=0.5),
    entry("t", created=-0.5),
    entry("t", created=0.25),  # int(-0.5) is 0, but -0.5 is in another second
    entry("t", created=-1.25),
    entry("t", created=NOW + 86_400 * 400 + 0.123),
    # levels, with and without a name
    entry("lv", level=logging.DEBUG),
    entry("lv", level=logging.CRITICAL),
    entry("lv", level=25),
    entry("lv", level=0),
    # captured caller and thread name, and a thread that has ended
    entry("caller", caller=("/src/app/grab.py", 17, "grab")),
    entry("caller", caller=("(unknown file)", 0, "(unknown function)")),
    entry("thread", thread_name="reader"),
    entry("thread", ident=1),
    # numbered, and from another process (its stream, pid and process name)
    entry("numbered", seq=123_456),
    entry("from a child", seq=7, origin=("cam1", 4242, "SpawnProcess-1"), thread_name="grab"),
    entry("from a child %d", 9, seq=8, origin=("név ☕", 1, "Process-2"), thread_name="x"),
]

PERCENT_FORMATS = [
    (DEFAULT_FORMAT, DEFAULT_DATEFMT),  # framepipe's default
    ("%(asctime)s %(levelname)-8s %(name)s: %(message)s", None),  # logging's msec format
    ("%(asctime)s|%(asctime)-30s|%(message)s", "%d/%m/%Y %H:%M:%S %Z"),
    ("%(msecs)03d %(msecs)f %(relativeCreated)d %(created)f %(created)e %(message)s", None),
    ("%(asctime)s %(msecs)f %(message)s", "%H:%M:%S"),
    ("%(levelno)d %(levelno)#x %(levelname)s %(levelname).3s %(name)10s %(message)r", None),
    ("%(thread)d %(threadName)s %(process)d %(processName)s %(taskName)s %(message)s", None),
    ("%(pathname)s %(filename)s %(module)s %(lineno)d %(funcName)s %(message)s", None),
    ("100%% %(message)s %%(asctime)s", None),  # literal percents, and time text unused
    ("%(message)s", None),
    (CHANNEL_FORMAT, DEFAULT_DATEFMT),  # the default once several processes log
    ("%(stream)-10s|%(stream).3s|%(seq)d|%(seq)08d|%(seq)x %(process)d %(processName)s", None),
]


def _expected(formatter: logging.Formatter, item: tuple[Any, ...]) -> object:
    try:
        return formatter.format(build_record(item)) + "\n"  # type: ignore[arg-type]
    except Exception as exc:
        return type(exc)


def _fast(compiled: Any, item: tuple[Any, ...]) -> object:
    try:
        return compiled.format(item)
    except Exception as exc:
        return type(exc)


def _formatters() -> list[logging.Formatter]:
    formatters = [logging.Formatter(fmt, datefmt) for fmt, datefmt in PERCENT_FORMATS]
    utc = logging.Formatter("%(asctime)s %(message)s")
    utc.converter = time.gmtime
    own_msec = logging.Formatter("%(asctime)s %(message)s")
    own_msec.default_time_format, own_msec.default_msec_format = "%H:%M:%S", "%s::%03d"
    no_msec = logging.Formatter("%(asctime)s %(message)s")
    no_msec.default_msec_format = None  # type: ignore[assignment]
    shifted = logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S")
    shifted.converter = lambda t: time.gmtime(t + 1800)  # type: ignore[method-assign]
    return [*formatters, utc, own_msec, no_msec, shifted]


@pytest.mark.parametrize("formatter", _formatters(), ids=lambda f: repr(f._fmt))
def test_compiled_lines_equal_logging_formatter_lines(formatter: logging.Formatter) -> None:
    """Every corpus entry gives the same line (or the same error) as Formatter on its LogRecord."""
    compiled = compile_format(formatter, "\n")
    assert compiled is not None
    ended = threading.Thread(target=lambda: None, name="grabber")
    ended.start()
    ended.join(timeout=10)
    corpus = [*CORPUS, entry("ended thread", ident=ended.ident)]
    for _ in range(2):  # the second time through, cached seconds and level names are reused
        for item in corpus:
            assert _fast(compiled, item) == _expected(formatter, item), item
        compiled.reset()


def test_level_names_added_later_are_used_after_a_reset() -> None:
    """addLevelName() between batches shows in the next batch, as it would with logging."""
    formatter = logging.Formatter("%(levelname)s %(message)s")
    compiled = compile_format(formatter)
    assert compiled is not None
    assert compiled.format(entry("m", level=23)) == "Level 23 m"
    logging.addLevelName(23, "NOTICE")
    try:
        compiled.reset()
        assert compiled.format(entry("m", level=23)) == "NOTICE m"
    finally:
        del logging._levelToName[23]
        del logging._nameToLevel["NOTICE"]


@pytest.mark.parametrize(
    "formatter",
    [
        logging.Formatter("{asctime} {message}", style="{"),  # another style
        logging.Formatter("$asctime $message", style="$"),
        logging.Formatter("%(camera)s %(message)s"),  # a field only `extra` could give
        logging.Formatter("%(message)s %(exc_text)s"),  # a field the entry does not carry
        logging.Formatter("%(message)*s", validate=False),  # width from the arguments
        logging.Formatter("%(message)s %s", validate=False),  # a bare directive
        logging.Formatter("%(message)S", validate=False),  # a conversion % does not know
        logging.Formatter("%(message)s %(camera)s", defaults={"camera": 0}),
        type("Upper", (logging.Formatter,), {})("%(message)s"),  # a subclass
        None,  # no formatter: the handler's default
    ],
    # Ids without addresses: every pytest-xdist worker must collect the same names.
    ids=lambda f: "None" if f is None else f"{type(f).__name__}({f._fmt!r})",
)
def test_formats_it_cannot_reproduce_exactly_are_not_compiled(
    formatter: logging.Formatter | None,
) -> None:
    """Anything but a plain %-style Formatter over the entry's fields keeps the LogRecord path."""
    assert compile_format(formatter) is None


def test_a_formatter_method_replaced_on_the_instance_is_not_compiled() -> None:
    """A formatTime patched onto one formatter is honoured by keeping the LogRecord path."""
    formatter = logging.Formatter("%(asctime)s %(message)s")
    formatter.formatTime = lambda record, datefmt=None: "then"  # type: ignore[method-assign]
    assert compile_format(formatter) is None


@pytest.mark.parametrize(
    ("cls", "name"),
    [
        (logging.Formatter, "formatTime"),
        (logging.PercentStyle, "_format"),
        (logging.LogRecord, "getMessage"),
    ],
)
def test_a_logging_method_replaced_on_its_class_is_honoured(
    monkeypatch: pytest.MonkeyPatch, cls: type, name: str
) -> None:
    """A program that patches logging's classes keeps getting the patched behaviour."""
    formatter = logging.Formatter("%(asctime)s %(message)s")
    assert compile_format(formatter) is not None
    original = getattr(cls, name)
    monkeypatch.setattr(cls, name, lambda self, *args: original(self, *args))
    assert compile_format(formatter) is None


def test_entries_with_exception_info_or_extra_are_left_to_their_record() -> None:
    """The compiled format refuses what only a LogRecord formats right."""
    compiled = compile_format(logging.Formatter(DEFAULT_FORMAT, DEFAULT_DATEFMT))
    assert compiled is not None
    try:
        raise ValueError("bad frame")
    except ValueError:
        exc_info = sys.exc_info()
    with pytest.raises(NotPlain):
        compiled.format(entry("m", exc_info=exc_info))
    with pytest.raises(NotPlain):
        compiled.format(entry("m", extra={"camera": 0}))


class RecordPathSink(BatchRotatingFileHandler):
    """The same file sink as a subclass: the dispatcher then writes it through LogRecords."""


def _mixed_items() -> list[object]:
    """Plain entries, bad ones, an exception, extra, and a plain logging record, interleaved."""
    try:
        raise KeyError("frame 3")
    except KeyError:
        exc_info = sys.exc_info()
    with_exc = entry("failed on %d", 3, exc_info=exc_info)
    with_extra = entry("extra %s", "kept", extra={"camera": 1})
    record = logging.LogRecord("stdlib.lib", logging.WARNING, __file__, 9, "from %s", ("lib",),
                               None)
    remote_exc = entry("child failed", seq=5, origin=("cam1", 4242, "SpawnProcess-1"),
                       exc_info="Traceback (most recent call last):\nKeyError: 'frame 4'")
    items: list[object] = []
    for i, item in enumerate(CORPUS):
        items += [item, entry("good %d", i)]
    return [*items, with_exc, with_extra, record, remote_exc, entry("last")]


@pytest.mark.parametrize(
    "fmt", [DEFAULT_FORMAT, CHANNEL_FORMAT, "%(asctime)s %(levelname)s %(message)s"]
)
def test_the_file_sink_writes_the_same_bytes_on_both_paths(tmp_path: Path, fmt: str) -> None:
    """One batch to the file sink and to a LogRecord-path twin: identical files and counts."""
    fast_sink = BatchRotatingFileHandler(tmp_path / "fast.txt", encoding="utf-8")
    record_sink = RecordPathSink(tmp_path / "record.txt", encoding="utf-8")
    counts = []
    items = _mixed_items()
    for sink in (fast_sink, record_sink):
        sink.setFormatter(logging.Formatter(fmt, DEFAULT_DATEFMT if "msecs" in fmt else None))
        dispatcher = Dispatcher([sink], stderr=io.StringIO())
        dispatcher.emit(items)  # type: ignore[arg-type]
        dispatcher.close()
        counts.append((dispatcher.written, dispatcher.errors))
    fast_text = (tmp_path / "fast.txt").read_bytes()
    assert fast_text == (tmp_path / "record.txt").read_bytes()
    assert counts[0] == counts[1]
    assert counts[0][1] == 9  # 8 bad corpus records and the lone surrogate
    assert b"KeyError: 'frame 3'" in fast_text  # the exception went through its record
    assert b"child failed\nTraceback (most recent call last):\nKeyError: 'frame 4'" in fast_text
