"""The watched process's side of the API: the handler runs on a few threads of its own.

A request may take seconds (a DELETE waits for a worker to stop), so requests do not wait for
each other: each runs on a thread of a small pool, at most :data:`MAX_IN_FLIGHT` at once. One
more is answered 503 with ``Retry-After`` at once, so nothing queues behind a slow request for
long. Whatever the handler does (raise, return something that is no answer) is a 500 that is
logged; the client never gets a traceback, and serving goes on.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from http import HTTPStatus

from framepipe._text import one_line
from framepipe.monitor._once import LOGGER_NAME
from framepipe.monitor.api import ApiHandler, ApiRequest
from framepipe.monitor.api_wire import error_reply, reply
from framepipe.monitor.reading import ApiReply

__all__ = ["MAX_IN_FLIGHT", "RETRY_AFTER_S", "ApiWorkers"]

MAX_IN_FLIGHT = 8
RETRY_AFTER_S = 1
_Job = tuple[str, ApiRequest]


class ApiWorkers:
    """Runs ``handler`` for each request :meth:`submit` gets and ``send``s its answer.

    Threads are started as requests need them, up to ``max_in_flight``; a ``send`` that fails
    (the server process is gone, or being replaced) loses that answer, as the request is lost.
    """

    def __init__(
        self,
        handler: ApiHandler,
        send: Callable[[ApiReply], None],
        max_in_flight: int = MAX_IN_FLIGHT,
        log: logging.Logger | None = None,
    ) -> None:
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be 1 or more, but got {max_in_flight!r}")
        self._handler = handler
        self._send = send
        self._max = max_in_flight
        self._log = log if log is not None else logging.getLogger(LOGGER_NAME)
        # Jobs never exceed max_in_flight; the room beyond is for one stop marker per thread.
        self._jobs: queue.Queue[_Job | None] = queue.Queue(maxsize=2 * max_in_flight)
        self._lock = threading.Lock()
        self._in_flight = 0
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()

    def submit(self, request_id: str, request: ApiRequest) -> None:
        """Run the request on a thread, or answer 503 now when ``max_in_flight`` are running."""
        with self._lock:
            if self._stopping.is_set():
                return
            busy = self._in_flight >= self._max
            if not busy:
                self._in_flight += 1
                self._jobs.put_nowait((request_id, request))
                if len(self._threads) < self._in_flight:  # every thread is busy
                    self._start_thread()
        if busy:
            self._deliver(
                error_reply(
                    request_id, HTTPStatus.SERVICE_UNAVAILABLE,
                    f"{self._max} API requests are in flight already: try again shortly",
                    (("Retry-After", str(RETRY_AFTER_S)),),
                )
            )  # fmt: skip

    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    def stop(self, timeout: float) -> None:
        """Take no more requests, drop the ones not started, and end the threads (a handler
        still running after ``timeout`` is left to finish on its daemon thread)."""
        with self._lock:
            threads = list(self._threads)
            if not self._stopping.is_set():  # once: a second call only waits
                self._stopping.set()
                for _ in threads:
                    self._jobs.put_nowait(None)
        for thread in threads:
            thread.join(timeout)

    def _start_thread(self) -> None:
        thread = threading.Thread(
            target=self._work, name=f"framepipe-monitor-api-{len(self._threads) + 1}", daemon=True
        )
        self._threads.append(thread)
        thread.start()

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                if not self._stopping.is_set():
                    self._deliver(self._answer(*job))
            finally:
                with self._lock:
                    self._in_flight -= 1

    def _answer(self, request_id: str, request: ApiRequest) -> ApiReply:
        """The handler's answer to ``request``, or a 500 saying it failed (and logging why)."""
        what = f"{request.method} {request.path} from {request.client}"
        try:
            answer = self._handler(request)
        except Exception as exc:
            self._log.error("API request %s failed: %s", what, one_line(exc), exc_info=exc)
            return error_reply(
                request_id, HTTPStatus.INTERNAL_SERVER_ERROR,
                f"internal error ({type(exc).__name__}); the service's log says more",
            )  # fmt: skip
        try:
            return reply(request_id, answer)
        except Exception as exc:  # not an ApiAnswer, or a document that is not JSON
            self._log.error("API request %s got no valid answer: %s", what, one_line(exc))
            return error_reply(
                request_id, HTTPStatus.INTERNAL_SERVER_ERROR,
                "internal error (the answer could not be sent); the service's log says more",
            )  # fmt: skip

    def _deliver(self, answer: ApiReply) -> None:
        try:
            self._send(answer)
        except (OSError, ValueError):
            pass  # the server process is gone (a closed or broken pipe): its request went too
