"""The log channel over a transport of the caller's own.

``address()`` and ``connect()`` join processes through a Unix socket. A process that cannot reach
the writing process's socket -- a Ray actor on another node, say -- can carry the channel's
messages itself, by any means that keeps their order:

- in the writing process, ``rx = receiver(logger)``; give ``rx.settings()`` to the other process,
  hand each message that arrives from it to ``rx.answer(message)`` and send back every answer
  that is not None, in the order the messages came;
- in the other process, ``connect(transport, stream, settings)``: from then on its loggers write
  through ``transport`` (:class:`Transport`: ``send`` a message; ``poll`` and ``recv`` the
  answers), exactly as a process joined by ``connect(address)`` writes through the socket.

Messages are tuples of plain, picklable values: ``("batch", entries)``, ``("flush",)`` and
``("bye",)`` towards the writer; ``("ack", accepted, refused)``, ``("flushed", ok)`` and
``("bye", ok)`` back. The sending process keeps its own bounded queue and at most a few batches
unanswered, and ``answer`` waits for room in the writer's queue: a slow writer holds the sender
back, whose queue then applies its overflow policy. Nothing buffers without bound, and a caller
of ``log.info`` never waits. Each record keeps its stream, pid and sequence number.

    # writing process                             # other process
    rx = transport.receiver(log)                  log = transport.connect(conn, "cam1", settings)
    settings = rx.settings()  # ─────────────►    log.info("frame %d", n)
    reply = rx.answer(message)  # ◄── message ──
    if reply is not None: send(reply)  # ──────►  (read by the sender)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from framepipe.logging._capture import EXTRA
from framepipe.logging._config import _ensure_configured, _install
from framepipe.logging._core import Core
from framepipe.logging._logger import Logger
from framepipe.logging._processes import _settings
from framepipe.logging._records import set_stream
from framepipe.logging._remote import ChannelSender, RemoteCore, Transport

__all__ = ["Receiver", "Transport", "connect", "receiver"]


class Receiver:
    """The writing process's end of a channel carried by the caller: see :func:`receiver`."""

    __slots__ = ("_core",)

    def __init__(self, core: Core) -> None:
        self._core = core

    def settings(self) -> dict[str, Any]:
        """What a connecting process's logger runs with: this logger's level, queue size and
        policies, and which record fields its formats show. Plain values, for ``connect()``."""
        return _settings(self._core)

    def answer(
        self, message: tuple[Any, ...], *, extra: Mapping[str, object] | None = None
    ) -> tuple[Any, ...] | None:
        """Take one message of a connected process's sender; the answer to send back, if any.

        A batch goes into this logger's queue (waiting for room, as the socket's receiver
        does), each record with ``extra``'s fields added (``%(node)s`` in a format, say); a
        flush or a goodbye is answered once this logger has written what it was sent. Messages
        of other kinds get no answer (None).
        """
        kind = message[0]
        if kind == "batch":
            accepted, refused = self._core.put_entries(_with_extra(message[1], extra))
            return ("ack", accepted, refused)
        if kind == "flush":
            return ("flushed", self._core.flush())
        if kind == "bye":
            return ("bye", self._core.flush())
        return None


def receiver(logger: object = None) -> Receiver:
    """The end where other processes' records come in: ``logger``'s writer.

    ``logger``: a ``framepipe.logging`` logger, whose core then receives (it keeps doing so
    if a later ``configure()`` replaces it); anything else (None, a ``logging.Logger``): the
    process-wide logger, configured by its defaults if nothing configured it yet.
    """
    core = getattr(logger, "_core", None) if isinstance(logger, Logger) else None
    return Receiver(core if isinstance(core, Core) else _ensure_configured())


def connect(
    transport: Transport, stream: str, settings: Mapping[str, Any], *,
    capture_stdlib: bool = True,
) -> Logger:
    """Make this process's loggers write through ``transport`` to another process's writer.

    ``settings`` is what that process's ``Receiver.settings()`` gave; ``stream`` names this
    process in ``%(stream)s``. As ``framepipe.logging.connect()`` does, this installs the signal
    handlers and exception hooks that write the queue out (and, with ``capture_stdlib``, a
    handler for ``logging`` records), and ``stop()`` waits until the writer has written
    every record this process accepted. ``ValueError`` for a stream that names nothing.
    """
    if not isinstance(stream, str) or not stream.strip():
        raise ValueError(f"stream must be a non-empty str, but got {stream!r}")
    set_stream(stream)
    sender = ChannelSender(f"transport:{stream}", transport)
    core = RemoteCore(sender, dict(settings))
    return _install(core, process_wide=True, capture_stdlib=capture_stdlib)


def _with_extra(
    entries: Sequence[tuple[Any, ...]], extra: Mapping[str, object] | None
) -> Sequence[tuple[Any, ...]]:
    """Each entry with ``extra``'s fields among its own (they win over the entry's)."""
    if not extra:
        return entries
    tagged = []
    for entry in entries:
        own = entry[EXTRA]
        fields = {**own, **extra} if own else dict(extra)
        tagged.append((*entry[:EXTRA], fields, *entry[EXTRA + 1:]))
    return tagged
