"""A non-blocking, queue-based logger for frame loops.

``log.info(...)`` captures plain values and returns; a writer thread builds the records, formats
and writes them through ordinary ``logging.Handler`` sinks (by default a rotating file). The queue
is bounded, every drop is counted and reported in the log itself, and accepted records are written
on normal exit, SIGTERM, Ctrl-C, unhandled exceptions and ``flush()``.

    from framepipe.logging import configure, get_logger
    log = configure(log_dir="logs", level="INFO")
    log.info("frame %d took %.1f ms", index, ms)

Several processes, one file: ``configure()`` in the parent, pass ``address()`` to each child, and
``connect(address, stream="cam1")`` there; the parent's writer writes every process's records.
Where a child cannot reach the parent's socket, ``framepipe.logging.transport`` carries the same
channel over a transport of the caller's own (the Ray engine's actor calls).

Without ``configure()``, the first record configures the defaults without touching anything
process-wide (no signal handlers, exception hooks or root-logger handler; ``$FRAMEPIPE_LOG_DIR``
chooses the directory, empty for stderr only); those belong to the application's ``configure()``.
``is_configured()`` tells an observer whether a logger exists yet, without making one.
"""

from framepipe.logging._config import configure, get_logger, is_configured
from framepipe.logging._defaults import OVERFLOW_POLICIES
from framepipe.logging._logger import Logger
from framepipe.logging._processes import address, connect
from framepipe.logging._sinks import BatchRotatingFileHandler

__all__ = [
    "OVERFLOW_POLICIES",
    "BatchRotatingFileHandler",
    "Logger",
    "address",
    "configure",
    "connect",
    "get_logger",
    "is_configured",
]
