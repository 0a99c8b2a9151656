"""``configure()`` and ``get_logger()``: the process-wide logger."""

from __future__ import annotations

import errno
import logging
import os
import sys
import threading
from collections.abc import Sequence
from typing import Any

from framepipe.logging import _defaults as default
from framepipe.logging._core import AsyncCore, Core, SyncCore
from framepipe.logging._defaults import MODES, OVERFLOW_POLICIES
from framepipe.logging._levels import parse_level
from framepipe.logging._lifecycle import Hooks, register_process_hooks
from framepipe.logging._logger import Logger
from framepipe.logging._notes import stderr_note
from framepipe.logging._records import set_stream
from framepipe.logging._sinks import (
    DEFAULT_DATEFMT,
    DEFAULT_FORMAT,
    BatchRotatingFileHandler,
    default_log_path,
)
from framepipe.logging._stdlib import StdlibBridge
from framepipe.typing import LogMode, LogStats, Overflow

__all__ = ["ROOT_NAME", "configure", "get_logger", "is_configured"]

ROOT_NAME = "framepipe"
# Where the implicit configuration writes its file; empty: stderr only.
LOG_DIR_ENV = "FRAMEPIPE_LOG_DIR"


class _Unconfigured:
    """Stands in until the first record: ``get_logger()`` at import time creates no files."""

    level = logging.INFO
    stopped = False

    def submit(self, *args: Any) -> None:
        _ensure_configured().submit(*args)

    def flush(self, timeout: float = default.FLUSH_TIMEOUT_S) -> bool:
        return _ensure_configured().flush(timeout)

    def stop(self, timeout: float = 0.0) -> None:
        pass

    def queue_size(self) -> int:
        return _ensure_configured().queue_size()

    def stats(self) -> LogStats:
        return _ensure_configured().stats()


class _State:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.core: Core | None = None
        self.hooks: Hooks | None = None
        self.bridge: StdlibBridge | None = None
        self.children: dict[str, Logger] = {}
        self.root = Logger(ROOT_NAME, _Unconfigured(), self.children)
        # Whether the current logger is the application's (configure()/connect()), not implicit.
        self.explicit = False


_state = _State()
# Cheap no-ops until a logger exists; registered now so that a fork is safe from the start.
register_process_hooks(lambda: _state.core, _state.lock)


def configure(
    log_dir: str | os.PathLike[str] | None = default.LOG_DIR,
    level: int | str = default.LEVEL,
    queue_size: int = default.QUEUE_SIZE,
    overflow: Overflow = default.OVERFLOW,
    protect_level: int | str = default.PROTECT_LEVEL,
    block_timeout: float = default.BLOCK_TIMEOUT_S,
    max_bytes: int = default.MAX_BYTES,
    backup_count: int = default.BACKUP_COUNT,
    mode: LogMode = default.MODE,
    handlers: Sequence[logging.Handler] | None = None,
    capture_stdlib: bool = True,
    console: bool = False,
    stream: str | None = None,
) -> Logger:
    """(Re)create the process-wide logger and return it.

    ``stream`` is what ``%(stream)s`` shows for this process's records (default: the process
    name), as a worker's stream name does for its records.

    ``log_dir=None`` writes to stderr only (no directory, no file). Besides the logger, this
    installs what an application asks for: SIGTERM/SIGINT handlers and exception hooks that write
    the queue out (see ``_lifecycle``) and, with ``capture_stdlib``, a handler on the root logger.
    ``stop()`` or the next ``configure()`` gives them back. The root logger's level is never
    changed: records of ``logging`` loggers are taken at or above this logger's ``level``.

    All arguments are checked (and the log file created) before anything starts, so a bad
    configuration raises ``ValueError``/``OSError`` and leaves the previous logger running.
    """
    core = _make_core(
        log_dir, level, queue_size, overflow, protect_level, block_timeout, max_bytes,
        backup_count, mode, handlers, console,
    )
    set_stream(stream)  # an earlier name belonged to a connection to a parent; this one writes
    return _install(core, process_wide=True, capture_stdlib=capture_stdlib)


def _make_core(
    log_dir: str | os.PathLike[str] | None, level: int | str, queue_size: int, overflow: str,
    protect_level: int | str, block_timeout: float, max_bytes: int, backup_count: int, mode: str,
    handlers: Sequence[logging.Handler] | None, console: bool,
) -> Core:
    levelno = parse_level(level)
    protect_levelno = parse_level(protect_level, what="protect_level")
    _check(queue_size, overflow, block_timeout, max_bytes, backup_count, mode)
    formatter = logging.Formatter(DEFAULT_FORMAT, DEFAULT_DATEFMT)
    sinks, log_file = _build_sinks(log_dir, max_bytes, backup_count, handlers, console, formatter)
    settings: dict[str, Any] = dict(
        level=levelno, log_file=log_file, overflow=overflow, protect_level=protect_levelno,
    )
    core: Core
    if mode == "async":
        core = AsyncCore(sinks, queue_size=queue_size, block_timeout=block_timeout, **settings)
    else:
        core = SyncCore(sinks, **settings)
    core.own_formatter = formatter
    return core


def _install(core: Core, *, process_wide: bool, capture_stdlib: bool) -> Logger:
    """Make ``core`` the core of every logger; ``process_wide``: also install the hooks."""
    with _state.lock:
        old_core, old_hooks, old_bridge = _state.core, _state.hooks, _state.bridge
        core.start()
        if old_hooks is not None:
            old_hooks.uninstall()  # before installing ours, so handlers never chain to old ones
        hooks = None
        if process_wide:
            hooks = Hooks(core, _state.root)
            hooks.install()
        root_logger = logging.getLogger()
        if old_bridge is not None:
            root_logger.removeHandler(old_bridge)
        bridge = None
        if process_wide and capture_stdlib:
            bridge = StdlibBridge(core)
            root_logger.addHandler(bridge)
        _state.core, _state.hooks, _state.bridge = core, hooks, bridge
        _state.explicit = process_wide
        core.on_stop = lambda: _release_process_hooks(core)
        _state.root._explicit_level = None
        _state.root._attach(core)
        for child in _state.children.values():
            child._attach(core)
    if old_core is not None:
        old_core.stop()  # drains what was queued before the switch
    return _state.root


def get_logger(name: str | None = None) -> Logger:
    """The process-wide logger, or a named child sharing its queue (configured on first use)."""
    if name is None or name == ROOT_NAME:
        return _state.root
    with _state.lock:
        child = _state.children.get(name)
        if child is None:
            child = Logger(name, _state.root._core, None)
            child._set_inherited_level(_state.root.level)
            _state.children[name] = child
        return child


def is_configured() -> bool:
    """Whether this process has a logger: ``configure()``, ``connect()`` or a first record made one.

    ``get_logger()`` alone makes none, and neither does this call: an observer can ask before
    ``get_stats()``, which would configure the defaults (a writer thread, a log file). A stopped
    logger still counts; its counters stay readable.
    """
    return _state.core is not None


def _release_process_hooks(core: Core) -> None:
    """After the current logger stops: give back signal handlers, excepthooks and the bridge."""
    with _state.lock:
        if _state.core is not core:
            return  # replaced by a newer configure(), which took the hooks over already
        if _state.hooks is not None:
            _state.hooks.uninstall()
            _state.hooks = None
        if _state.bridge is not None:
            logging.getLogger().removeHandler(_state.bridge)
            _state.bridge = None


def _ensure_configured() -> Core:
    with _state.lock:
        if _state.core is None:
            _configure_implicitly()
        assert _state.core is not None
        return _state.core


def _configure_implicitly() -> None:
    """The defaults, for a first record logged before any ``configure()``.

    A library may log in an application that never asked for framepipe, so this touches nothing
    process-wide: no signal handler, no exception hook, no handler on the root logger; only the
    ``atexit`` drain. The file goes to ``$FRAMEPIPE_LOG_DIR`` (empty: stderr only), else ``logs``;
    a directory that cannot be written falls back to stderr, since a log call never raises.
    """
    log_dir = os.environ.get(LOG_DIR_ENV, default.LOG_DIR) or None
    defaults: dict[str, Any] = dict(
        level=default.LEVEL, queue_size=default.QUEUE_SIZE, overflow=default.OVERFLOW,
        protect_level=default.PROTECT_LEVEL, block_timeout=default.BLOCK_TIMEOUT_S,
        max_bytes=default.MAX_BYTES, backup_count=default.BACKUP_COUNT, mode=default.MODE,
        handlers=None, console=False,
    )
    try:
        core = _make_core(log_dir, **defaults)
    except OSError as exc:
        stderr_note(f"cannot write a log file in {os.fspath(log_dir or '')!r} ({exc.strerror}); "
                    "logging to stderr")
        core = _make_core(None, **defaults)
    _install(core, process_wide=False, capture_stdlib=False)


def _check(
    queue_size: int, overflow: str, block_timeout: float, max_bytes: int, backup_count: int,
    mode: str,
) -> None:
    def fail(msg: str) -> None:
        raise ValueError(msg)

    if isinstance(queue_size, bool) or not isinstance(queue_size, int) or queue_size < 1:
        fail(f"queue_size must be a positive int, but got {queue_size!r}")
    if overflow not in OVERFLOW_POLICIES:
        fail(f"overflow must be one of {', '.join(OVERFLOW_POLICIES)}, but got {overflow!r}")
    if (isinstance(block_timeout, bool) or not isinstance(block_timeout, (int, float))
            or not 0 <= block_timeout < float("inf")):  # nan fails both comparisons
        fail(f"block_timeout must be a finite number of seconds >= 0, but got {block_timeout!r}")
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0:
        fail(f"max_bytes must be an int >= 0 (0: never rotate), but got {max_bytes!r}")
    if isinstance(backup_count, bool) or not isinstance(backup_count, int) or backup_count < 0:
        fail(f"backup_count must be an int >= 0, but got {backup_count!r}")
    if mode not in MODES:
        fail(f"mode must be one of {', '.join(MODES)}, but got {mode!r}")


def _build_sinks(
    log_dir: str | os.PathLike[str] | None, max_bytes: int, backup_count: int,
    handlers: Sequence[logging.Handler] | None, console: bool, formatter: logging.Formatter,
) -> tuple[list[logging.Handler], str | None]:
    log_file = None
    if handlers is not None:
        sinks = list(handlers)
        if not all(isinstance(h, logging.Handler) for h in sinks):
            raise ValueError(f"handlers must be logging.Handler instances, but got {sinks!r}")
    elif log_dir is None:
        sinks = []
        console = True  # stderr is the only sink
    else:
        try:
            os.makedirs(log_dir, exist_ok=True)
            log_file = _create_log_file(log_dir)
            try:
                file_sink = BatchRotatingFileHandler(
                    log_file, maxBytes=max_bytes, backupCount=backup_count, encoding="utf-8"
                )
            except OSError:
                os.unlink(log_file)
                raise
        except OSError as exc:
            raise OSError(
                exc.errno,
                f"log_dir must be a writable directory, but {os.fspath(log_dir)!r} is not "
                f"({exc.strerror})",
            ) from None
        file_sink.setFormatter(formatter)
        sinks = [file_sink]
    if console:
        console_sink = logging.StreamHandler(sys.stderr)
        console_sink.setFormatter(formatter)
        sinks.append(console_sink)
    return sinks, log_file


# Names tried after the first before giving up: a directory this crowded is a mistake.
_MAX_NAME_ATTEMPTS = 1000


def _create_log_file(log_dir: str | os.PathLike[str]) -> str:
    """Create a new, empty log file that belongs to this logger alone and return its path.

    ``logs_YYYYmmdd_HHMMSS.txt`` is created exclusively; when another process (or an earlier
    ``configure()`` in this one) started in the same second it is taken, and the name gets this
    process's id (``_<pid>``), then a counter. No two loggers ever write or rotate the same file.
    """
    stem, ext = os.path.splitext(default_log_path(log_dir))
    pid = os.getpid()
    names = [f"{stem}{ext}", f"{stem}_{pid}{ext}"]
    names += (f"{stem}_{pid}_{n}{ext}" for n in range(2, _MAX_NAME_ATTEMPTS))
    for path in names:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return path
    raise FileExistsError(errno.EEXIST, f"{len(names)} log file names taken", names[-1])
