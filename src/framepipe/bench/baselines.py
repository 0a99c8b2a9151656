"""The classic stdlib design the benchmarks compare framepipe against.

``QueueHandler`` + ``QueueListener`` over a bounded ``queue.Queue(10000)``: the caller's thread
puts each record in the queue, a listener thread hands it to the sink. ``framepipe bench``'s
``stdlib-queue`` mode and the scripts in ``benchmarks/`` build it here, so they all measure the
same thing.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import queue
import time
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CLASSIC_FORMAT",
    "STDLIB_QUEUE_SIZE",
    "CountingQueueHandler",
    "StdlibQueueLogger",
    "classic_file_handler",
    "stdlib_queue_logger",
    "stop_listener",
]

# The classic design's bounded queue, the same size as framepipe's default.
STDLIB_QUEUE_SIZE = 10_000
CLASSIC_FORMAT = "%(asctime)s %(levelname)-8s %(name)s: %(message)s"


class CountingQueueHandler(logging.handlers.QueueHandler):
    """The stdlib ``QueueHandler``; a full queue counts a drop instead of printing a traceback."""

    dropped = 0

    def handleError(self, record: logging.LogRecord) -> None:
        self.dropped += 1


def stop_listener(listener: Any, timeout: float) -> None:
    """Stop a ``QueueListener`` (stdlib's or picologging's), waiting at most ``timeout`` s.

    ``QueueListener.stop()`` puts its end marker with ``put_nowait`` (``queue.Full`` when the
    queue is still full) and joins its thread without a timeout, so a stalled sink would crash
    or hang the caller. Here both waits share ``timeout``; past it the thread, a daemon, is
    abandoned.
    """
    thread = listener._thread
    if thread is None:
        return
    listener._thread = None
    deadline = time.monotonic() + timeout
    try:
        listener.queue.put(listener._sentinel, timeout=timeout)
    except queue.Full:
        return
    thread.join(max(0.0, deadline - time.monotonic()))


@dataclass
class StdlibQueueLogger:
    """A started classic design: log through ``logger``; ``stop()`` tears it down."""

    logger: logging.Logger
    handler: logging.handlers.QueueHandler
    listener: logging.handlers.QueueListener
    records: queue.Queue[Any]

    @property
    def dropped(self) -> int | None:
        """Records refused by the full queue; None when the handler does not count them."""
        if isinstance(self.handler, CountingQueueHandler):
            return self.handler.dropped
        return None

    def stop(self, timeout: float = 10.0) -> None:
        """Detach the handler, then stop the listener once it has taken what is queued."""
        self.logger.removeHandler(self.handler)
        stop_listener(self.listener, timeout)


def stdlib_queue_logger(
    name: str, sink: logging.Handler, *, size: int = STDLIB_QUEUE_SIZE, count_drops: bool = True
) -> StdlibQueueLogger:
    """Start the classic design on the logger ``name``, delivering to ``sink``.

    The logger is private (no propagation to the root logger's handlers) and logs INFO and up.
    ``count_drops=False`` keeps the stdlib's own reaction to a full queue, a traceback on stderr
    per record, for measurements of exactly that.
    """
    records: queue.Queue[Any] = queue.Queue(size)
    handler = (
        CountingQueueHandler(records) if count_drops else logging.handlers.QueueHandler(records)
    )
    listener = logging.handlers.QueueListener(records, sink)
    logger = logging.getLogger(name)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    listener.start()
    return StdlibQueueLogger(logger=logger, handler=handler, listener=listener, records=records)


def classic_file_handler(path: str | os.PathLike[str]) -> logging.FileHandler:
    """A plain ``FileHandler`` in the classic format, the sink of the stdlib baselines."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(CLASSIC_FORMAT))
    return handler
