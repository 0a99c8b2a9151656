"""The log channel between Ray actors and the driver: the local workers' transport, over Ray.

A local worker's logger writes through ``framepipe.logging``'s channel: its writer thread hands
each batch to a ``ChannelSender``, which makes the entries portable, sends them to the parent
and waits for the parent's acknowledgement (at most ``MAX_IN_FLIGHT`` batches unacknowledged);
the parent puts them into its own queue, where its one writer writes them. A Ray actor may run
on a node with no route to the driver's socket, so here the same sender talks to an
:class:`ActorConnection` instead of a socket, and the messages travel over Ray itself, never
through the actor's stdout (which Ray deduplicates and would thin out):

- actor to driver: the sender's messages (``batch``, ``flush``, ``bye``) wait in the
  connection until the driver's next poll of the actor takes them (one poll in flight);
- on the driver, :class:`LogPump` -- one thread for every actor -- puts each batch into the
  driver's queue (waiting for room, as the socket's receiver does) and sends the answers back
  by a method call of the actor, numbered so they are read in order.

So a slow driver holds the actor's sender back, the actor's own bounded queue fills, and its
overflow policy drops and counts: nothing buffers without bound, and the frame loop never waits.
Each record keeps its stream, pid and per-process sequence number (a lost record leaves a gap),
and the driver adds the actor's ``node``.

``framepipe.logging`` has no public hook for a transport of another kind yet: the few private
names this module uses are imported here only.
"""

from __future__ import annotations

import collections
import queue
import threading
from collections.abc import Callable, Sequence
from typing import Any

from framepipe.logging import Logger
from framepipe.logging._config import _ensure_configured, _install
from framepipe.logging._core import Core
from framepipe.logging._processes import _settings
from framepipe.logging._records import set_stream
from framepipe.logging._remote import ChannelSender, RemoteCore

__all__ = ["ActorConnection", "LogPump", "channel_settings", "connect_actor"]

# Messages one actor may have waiting for the pump: its sender's unanswered batches and one
# flush or goodbye, with room to spare (the sender never has more unanswered).
_PER_ACTOR = 16
_STOP_WAIT_S = 10.0

_Reply = Callable[[list[tuple[Any, ...]]], None]
_Item = tuple[_Reply, list[Any], "str | None"]


def channel_settings(logger: Any) -> dict[str, Any]:
    """What the actors' loggers run with: the driver's logger's level, queue and policies."""
    return dict(_settings(driver_core(logger)))


def driver_core(logger: Any) -> Core:
    """The engine behind ``logger`` (a ``framepipe.logging`` logger), else the process-wide
    one, configured by its defaults if nothing configured it yet."""
    core = getattr(logger, "_core", None)
    return core if isinstance(core, Core) else _ensure_configured()


class ActorConnection:
    """The actor's end of its log channel, in the place of a socket's ``Connection``.

    ``send`` keeps a message for the driver's next poll (:meth:`take`); the driver's answers
    arrive numbered through :meth:`answer` and are read in that order by ``poll``/``recv``.
    """

    def __init__(self, news: threading.Event) -> None:
        self._news = news
        self._lock = threading.Condition(threading.Lock())
        self._outgoing: list[tuple[Any, ...]] = []  # bounded by the sender's in-flight limit
        self._incoming: collections.deque[tuple[Any, ...]] = collections.deque()
        self._early: dict[int, Sequence[tuple[Any, ...]]] = {}  # answers ahead of their turn
        self._next = 0
        self._closed = False

    # -- the sender's side (the actor's log writer thread) ---------------------------------------

    def send(self, message: tuple[Any, ...]) -> None:
        with self._lock:
            if self._closed:
                raise OSError("the actor's log channel is closed")
            self._outgoing.append(message)
        self._news.set()

    def poll(self, timeout: float = 0.0) -> bool:
        with self._lock:
            return self._lock.wait_for(lambda: bool(self._incoming) or self._closed, timeout)

    def recv(self) -> tuple[Any, ...]:
        with self._lock:
            if self._incoming:
                return self._incoming.popleft()
        raise EOFError("the actor's log channel is closed")

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._lock.notify_all()

    # -- the driver's side (by way of the actor's methods) ---------------------------------------

    def take(self) -> list[tuple[Any, ...]]:
        """What the sender sent since the last call, oldest first."""
        with self._lock:
            taken, self._outgoing = self._outgoing, []
        return taken

    def waiting(self) -> bool:
        return bool(self._outgoing)

    def answer(self, number: int, answers: Sequence[tuple[Any, ...]]) -> None:
        """The driver's answers numbered ``number`` (0, 1, ...): read in that order."""
        with self._lock:
            self._early[number] = answers
            while self._next in self._early:
                self._incoming.extend(self._early.pop(self._next))
                self._next += 1
            self._lock.notify_all()


def connect_actor(
    conn: ActorConnection, stream: str, settings: dict[str, Any], capture_stdlib: bool = True
) -> Logger:
    """Make the actor's loggers write through ``conn``: a connected child's logger, as
    ``framepipe.logging.connect`` makes it, with ``settings`` the driver's."""
    set_stream(stream)
    sender = ChannelSender(f"ray-actor:{stream}", conn)  # type: ignore[arg-type]
    return _install(RemoteCore(sender, settings), process_wide=True, capture_stdlib=capture_stdlib)


class LogPump:
    """The driver's end of every actor's log channel: one thread, one bounded queue.

    :meth:`put` (from the supervisor's thread, never waiting) hands over the messages one poll
    brought; the thread writes batches through ``core`` and calls ``reply(answers)``.
    """

    def __init__(self, core: Core, actors: int) -> None:
        self._core = core
        self._queue: queue.Queue[_Item | None] = queue.Queue(maxsize=_PER_ACTOR * max(1, actors))
        self._thread = threading.Thread(target=self._run, name="framepipe-ray-logs", daemon=True)
        self._thread.start()

    def put(self, reply: _Reply, messages: list[Any], node: str | None) -> None:
        """Messages of one actor run; ``reply`` takes the answers to that run, in order."""
        try:
            self._queue.put((reply, messages, node), timeout=_STOP_WAIT_S)
        except queue.Full:  # cannot happen while senders keep their limit: never stall here
            pass

    def stop(self) -> None:
        """Write what was handed over, then end the thread (idempotent)."""
        if self._thread.is_alive():
            try:
                self._queue.put(None, timeout=_STOP_WAIT_S)
            except queue.Full:
                pass
            self._thread.join(_STOP_WAIT_S)

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            reply, messages, node = item
            answers = [a for m in messages if (a := self._answer(m, node)) is not None]
            if answers:
                try:
                    reply(answers)
                except Exception:  # the actor is gone: its sender counts what it lost
                    pass

    def _answer(self, message: tuple[Any, ...], node: str | None) -> tuple[Any, ...] | None:
        kind = message[0]
        if kind == "batch":
            accepted, refused = self._core.put_entries(_with_node(message[1], node))
            return ("ack", accepted, refused)
        if kind == "flush":
            return ("flushed", self._core.flush())
        if kind == "bye":
            return ("bye", self._core.flush())
        return None  # "hello" is not sent over Ray: the actor was given the settings


def _with_node(entries: Sequence[tuple[Any, ...]], node: str | None) -> list[tuple[Any, ...]]:
    """Each entry with ``node`` among its extra fields (``%(node)s`` in a format)."""
    if node is None:
        return list(entries)
    tagged = []
    for entry in entries:
        extra = entry[9]
        tagged.append((*entry[:9], {**extra, "node": node} if extra else {"node": node},
                       *entry[10:]))  # fmt: skip
    return tagged
