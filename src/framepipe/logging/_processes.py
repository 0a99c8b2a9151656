"""Several processes, one log: ``address()`` in the parent, ``connect(address)`` in each child.

The parent's logger stays the only writer: one file, rotated once, by one process. A child's
loggers keep their own bounded queue and writer thread, which sends batches of captured records
to the parent (``_remote``) instead of writing them.
"""

from __future__ import annotations

import logging
import multiprocessing.util
from typing import Any

from framepipe.logging import _defaults as default
from framepipe.logging._channel import CHANNEL_FORMAT, ChannelServer, open_channel, parse_address
from framepipe.logging._config import _check, _install, _state
from framepipe.logging._core import AsyncCore, Core
from framepipe.logging._levels import parse_level
from framepipe.logging._logger import Logger
from framepipe.logging._records import set_stream, stream_name
from framepipe.logging._remote import ChannelSender, RemoteCore
from framepipe.typing import Overflow

__all__ = ["address", "connect"]



def address() -> str:
    """The name of this process's log channel, for ``connect()`` in its child processes.

    The first call opens the channel (a Unix socket only this user can reach, admitting only
    holders of the key this string carries: pass it to children, do not log it) and switches
    the default file format to ``CHANNEL_FORMAT``, which shows each line's stream, pid and
    sequence number. The address is valid until this logger stops. In a process that itself
    connected to a parent, it is that parent's address. ``RuntimeError`` before ``configure()``
    or after ``stop()``.
    """
    with _state.lock:
        core = _state.core
    if core is not None and core.channel is None and not core.stopped:
        core.flush()  # records logged before this call keep the format they were logged under
    with _state.lock:
        core = _state.core
        if core is None or not _state.explicit:
            msg = (
                "framepipe.logging.address() needs this process's logger: call "
                "framepipe.logging.configure() first"
            )
            raise RuntimeError(msg)
        if core.stopped:
            msg = (
                "framepipe.logging.address(): this process's logger was stopped; call "
                "framepipe.logging.configure() again to open a new log channel"
            )
            raise RuntimeError(msg)
        if isinstance(core, RemoteCore):
            return core.sender.address
        channel = core.channel
        if not isinstance(channel, ChannelServer):
            _use_channel_format(core)
            channel = core.channel = ChannelServer(core, lambda: _settings(core))
        return channel.address


def connect(
    address: str,
    stream: str | None = None,
    *,
    level: int | str | None = None,
    queue_size: int | None = None,
    overflow: Overflow | None = None,
    protect_level: int | str | None = None,
    block_timeout: float | None = None,
    capture_stdlib: bool = True,
) -> Logger:
    """Make this process's loggers write through the parent's log channel at ``address``.

    For a child process (``multiprocessing.Pool(initializer=connect, initargs=(address,))``
    works): from now on every ``framepipe.logging`` logger here -- and ``logging`` records, with
    ``capture_stdlib`` -- goes to the parent's one writer. ``stream`` names this process in
    ``%(stream)s`` (default: its process name). The settings are the parent logger's unless
    given here. Like ``configure()``, it installs the signal handlers and exception hooks that
    write the queue out, and this process's clean end, SIGTERM or an unhandled exception waits
    until the parent has written every record this process accepted.

    ``ValueError`` for a bad address or setting, ``ConnectionError`` when the parent's channel
    cannot be reached (its logger stopped, or the process is gone).
    """
    parse_address(address)
    if stream is not None and (not isinstance(stream, str) or not stream.strip()):
        raise ValueError(f"stream must be a non-empty str or None, but got {stream!r}")
    overrides = _overrides(level, queue_size, overflow, protect_level, block_timeout)
    with _state.lock:
        core = _state.core
        channel = core.channel if core is not None and not core.stopped else None
        if isinstance(channel, ChannelServer) and channel.address == address:
            msg = "connect() is for child processes: this process owns that log channel"
            raise ValueError(msg)
    set_stream(stream)
    conn, settings = open_channel(address, stream_name())
    settings.update(overrides)
    core = RemoteCore(ChannelSender(address, conn), settings)
    log = _install(core, process_wide=True, capture_stdlib=capture_stdlib)
    # A multiprocessing child started by fork ends with os._exit(), skipping atexit; its
    # finalizers still run, so the queue is written out either way.
    multiprocessing.util.Finalize(None, core.stop, exitpriority=0)
    return log


def _overrides(
    level: int | str | None, queue_size: int | None, overflow: Overflow | None,
    protect_level: int | str | None, block_timeout: float | None,
) -> dict[str, Any]:
    """The settings given to ``connect()``, checked as ``configure()`` checks them."""
    given: dict[str, Any] = {}
    if level is not None:
        given["level"] = parse_level(level)
    if protect_level is not None:
        given["protect_level"] = parse_level(protect_level, what="protect_level")
    for name, value in (
        ("queue_size", queue_size), ("overflow", overflow), ("block_timeout", block_timeout)
    ):
        if value is not None:
            given[name] = value
    _check(
        given.get("queue_size", 1), given.get("overflow", default.OVERFLOW),
        given.get("block_timeout", 0.0), 0, 0, default.MODE,
    )
    return given


def _settings(core: Core) -> dict[str, Any]:
    """What a connecting child's logger runs with: this logger's settings."""
    queue = core.queue if isinstance(core, AsyncCore) else None
    return {
        "level": core.level,
        "overflow": core.overflow,
        "protect_level": core.protect_level,
        # A parent in sync mode has no queue: its children get the default one.
        "queue_size": queue.maxsize if queue is not None else default.QUEUE_SIZE,
        "block_timeout": queue.block_timeout if queue is not None else default.BLOCK_TIMEOUT_S,
        "log_file": core.log_file,
        "need_caller": core.need_caller,
        "need_thread_name": core.need_thread_name,
    }


def _use_channel_format(core: Core) -> None:
    """Give configure()'s own sinks the format that tells the processes' lines apart."""
    old = core.own_formatter
    if old is None:
        return
    new = logging.Formatter(CHANNEL_FORMAT, old.datefmt)
    for handler in core.dispatcher.handlers:
        if handler.formatter is old:
            handler.setFormatter(new)
    core.own_formatter = new
