"""The log channel between Ray actors and the driver: the local workers' transport, over Ray.

A local worker's logger writes through ``framepipe.logging``'s channel: its writer thread sends
each batch to the parent and waits for the parent's acknowledgement (a few batches at most
unacknowledged); the parent puts them into its own queue, where its one writer writes them. A
Ray actor may run on a node with no route to the driver's socket, so here the same channel is
carried by ``framepipe.logging.transport``: the actor's loggers write through an
:class:`ActorConnection` instead of a socket, and the messages travel over Ray itself, never
through the actor's stdout (which Ray deduplicates and would thin out):

- actor to driver: the sender's messages (``batch``, ``flush``, ``bye``) wait in the
  connection until the driver's next poll of the actor takes them (one poll in flight);
- on the driver, :class:`LogPump` -- one thread for every actor -- hands each message to the
  driver's ``Receiver`` (a batch goes into the driver's queue, waiting for room, as the socket's
  receiver does) and sends the answers back by a method call of the actor, numbered so they are
  read in order.

So a slow driver holds the actor's sender back, the actor's own bounded queue fills, and its
overflow policy drops and counts: nothing buffers without bound, and the frame loop never waits.
Each record keeps its stream, pid and per-process sequence number (a lost record leaves a gap),
and the driver adds the actor's ``node``.
"""

from __future__ import annotations

import collections
import queue
import threading
from collections.abc import Callable, Sequence
from typing import Any

from framepipe.logging import Logger
from framepipe.logging.transport import Receiver, connect, receiver

__all__ = ["ActorConnection", "LogPump", "channel_settings", "connect_actor"]

# Messages one actor may have waiting for the pump: its sender's unanswered batches and one
# flush or goodbye, with room to spare (the sender never has more unanswered).
_PER_ACTOR = 16
_STOP_WAIT_S = 10.0

_Reply = Callable[[list[tuple[Any, ...]]], None]
_Item = tuple[_Reply, list[Any], "str | None"]


def channel_settings(logger: Any) -> dict[str, Any]:
    """What the actors' loggers run with: the driver's logger's level, queue and policies."""
    return driver_core(logger).settings()


def driver_core(logger: Any) -> Receiver:
    """Where the actors' records go: the writer behind ``logger`` (a ``framepipe.logging``
    logger), else the process-wide one, configured by its defaults if nothing configured it."""
    return receiver(logger)


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
    return connect(conn, stream, settings, capture_stdlib=capture_stdlib)


class LogPump:
    """The driver's end of every actor's log channel: one thread, one bounded queue.

    :meth:`put` (from the supervisor's thread, never waiting) hands over the messages one poll
    brought; the thread hands them to ``receiver`` and calls ``reply(answers)``.
    """

    def __init__(self, receiver: Receiver, actors: int) -> None:
        self._receiver = receiver
        self._queue: queue.Queue[_Item | None] = queue.Queue(maxsize=_PER_ACTOR * max(1, actors))
        self._thread = threading.Thread(target=self._run, name="framepipe-ray-logs", daemon=True)
        self._thread.start()

    def expect(self, actors: int) -> None:
        """Room for ``actors`` actors' messages: the bound grows as streams join a running
        set (an actor beyond it would find the queue full), and never shrinks."""
        with self._queue.mutex:  # queue.Queue's own lock, for a bound that changes
            self._queue.maxsize = max(self._queue.maxsize, _PER_ACTOR * actors)
            self._queue.not_full.notify_all()

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
            extra = {"node": node} if node is not None else None  # %(node)s in a format
            # "hello" is not sent over Ray (the actor was given the settings): no answer.
            answers = [
                a for m in messages if (a := self._receiver.answer(m, extra=extra)) is not None
            ]
            if answers:
                try:
                    reply(answers)
                except Exception:  # the actor is gone: its sender counts what it lost
                    pass
