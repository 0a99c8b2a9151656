"""The server process's side of the API: a request goes up to the watched process, and the
connection's thread waits, a bounded time, for the answer that comes back beside the readings.

Each request gets an id unique to this process, so an answer meant for another process (one
this one replaced after a crash) or for a request whose wait is over is recognised and dropped.
"""

from __future__ import annotations

import itertools
import secrets
import threading
from collections.abc import Callable

from framepipe.monitor.api import ApiRequest
from framepipe.monitor.api_wire import encode_request
from framepipe.monitor.reading import ApiReply

__all__ = ["ApiForwarder"]


class _Waiting:
    """One request's wait for its answer."""

    def __init__(self) -> None:
        self.answered = threading.Event()
        self.reply: ApiReply | None = None


class ApiForwarder:
    """Sends requests with ``send`` (a line to the watched process) and hands each the answer
    :meth:`deliver` receives for it, within ``timeout_s``."""

    def __init__(self, send: Callable[[bytes], None], timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._send = send
        self._prefix = secrets.token_hex(6)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)  # notified as each request stops waiting
        self._waiting: dict[str, _Waiting] = {}  # one entry per connection thread waiting
        self._closed = False

    def forward(self, request: ApiRequest) -> ApiReply | None:
        """The answer to ``request``, or None if none came in time; OSError if it could not
        be sent or the server is closing (the watched process is going away)."""
        waiting = _Waiting()
        with self._lock:
            if self._closed:
                raise BrokenPipeError("the server is closing")
            request_id = f"{self._prefix}-{next(self._ids)}"
            self._waiting[request_id] = waiting
        try:
            self._send(encode_request(request_id, request))
            waiting.answered.wait(self.timeout_s)
            with self._lock:
                if waiting.reply is None and self._closed:
                    raise BrokenPipeError("the server closed before the answer came")
                return waiting.reply
        finally:
            with self._lock:
                del self._waiting[request_id]
                self._idle.notify_all()

    def close(self, timeout: float) -> None:
        """No answer will come any more: the requests waiting end now (up to ``timeout`` is
        given them to stop waiting, before their connections are closed), later ones at once."""
        with self._lock:
            self._closed = True
            for waiting in self._waiting.values():
                waiting.answered.set()
            self._idle.wait_for(lambda: not self._waiting, timeout)

    def deliver(self, reply: ApiReply) -> None:
        """Hand ``reply`` to the request waiting for it; one nobody waits for is dropped."""
        with self._lock:
            waiting = self._waiting.get(reply.request_id)
            if waiting is None:  # its client left, or its wait is over
                return
            waiting.reply = reply
            waiting.answered.set()

    def waiting(self) -> int:
        """Requests waiting for their answers now."""
        with self._lock:
            return len(self._waiting)
