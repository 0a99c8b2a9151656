"""The changes other threads ask of a running stream set, queued for the supervisor's thread.

Any thread ``submit``s a :class:`Command` and waits for its answer; the supervisor ``take``s
what is queued once per step and answers each. The queue is bounded (a full one refuses at
once, :class:`StreamSetBusy`), and once it is closed every command still waiting, and every
later one, is answered :class:`StreamSetClosed`: nobody waits on a supervisor that has ended.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

from framepipe.streams.job import StreamJob
from framepipe.streams.stream_set import StreamSetBusy, StreamSetClosed, StreamSetError

__all__ = ["MAX_COMMANDS", "Command", "CommandKind", "CommandQueue", "Reply"]

MAX_COMMANDS = 64  # waiting at once; more is a client hammering the API, not a service's needs

CommandKind = Literal["add", "remove", "restart", "list"]


class Reply:
    """One command's answer: a value or an error, given once, waited for by the asker."""

    def __init__(self) -> None:
        self._done = threading.Event()
        self._value: Any = None
        self._error: tuple[type[StreamSetError], str] | None = None

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def answer(self, value: Any) -> None:
        if not self._done.is_set():
            self._value = value
            self._done.set()

    def fail(self, error: StreamSetError) -> None:
        if not self._done.is_set():
            self._error = (type(error), str(error))
            self._done.set()

    def wait(self, timeout: float | None) -> Any:
        """The value; the error raised afresh in the asker's thread; TimeoutError when
        ``timeout`` passes first (the command may still be applied later)."""
        if not self._done.wait(timeout):
            raise TimeoutError(f"no answer from the stream set within {timeout:g} s")
        if self._error is not None:
            kind, message = self._error
            raise kind(message)
        return self._value


@dataclass
class Command:
    """A change (``add``, ``remove``, ``restart``) or a question (``list``)."""

    kind: CommandKind
    name: str | None = None
    job: StreamJob | None = None
    restart_attempts: int = 0
    reply: Reply = field(default_factory=Reply)


class CommandQueue:
    """Bounded, closable; ``submit`` from any thread, ``take`` from the supervisor's."""

    def __init__(self, maxsize: int = MAX_COMMANDS) -> None:
        if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 1:
            raise ValueError(f"maxsize must be a positive integer, but got {maxsize!r}")
        self._maxsize = maxsize
        self._waiting: deque[Command] = deque()
        self._lock = threading.Lock()
        self._closed: str | None = None

    def put(self, command: Command) -> Reply:
        """Queue ``command``; its reply. StreamSetClosed or StreamSetBusy at once when it
        cannot be queued."""
        with self._lock:
            if self._closed is not None:
                raise StreamSetClosed(self._closed)
            if len(self._waiting) >= self._maxsize:
                raise StreamSetBusy(
                    f"{self._maxsize} changes are waiting to be applied: try again in a moment"
                )
            self._waiting.append(command)
        return command.reply

    def submit(self, command: Command, timeout: float | None) -> Any:
        """Queue ``command`` and wait for its answer (see :meth:`Reply.wait`)."""
        return self.put(command).wait(timeout)

    def take(self) -> list[Command]:
        """Everything queued, oldest first, without waiting."""
        with self._lock:
            taken = list(self._waiting)
            self._waiting.clear()
        return taken

    def close(self, why: str) -> None:
        """Take no more commands; answer those still waiting with StreamSetClosed(``why``)."""
        with self._lock:
            if self._closed is None:
                self._closed = why
            left = list(self._waiting)
            self._waiting.clear()
        for command in left:
            command.reply.fail(StreamSetClosed(why))
