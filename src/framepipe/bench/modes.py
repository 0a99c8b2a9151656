"""Logging modes compared by the benchmark, each with the same small lifecycle.

``start(sink, directory)`` sets the mode up around a fresh sink and returns what the frame loop
calls; ``drain(expected, timeout)`` waits, outside the timed region, until the sink has every
record; ``stop()`` tears the mode down and returns what was written and dropped. A mode whose
package cannot be imported is reported as skipped (``unavailable_reason``), not as an error.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Any

from framepipe.bench.baselines import (
    STDLIB_QUEUE_SIZE,
    StdlibQueueLogger,
    stdlib_queue_logger,
    stop_listener,
)
from framepipe.bench.loop import LOG_TEMPLATE, LogCall
from framepipe.bench.sinks import CountingHandler
from framepipe.typing import LogMode

__all__ = [
    "DEFAULT_MODE_NAMES",
    "MODES",
    "Counts",
    "FramepipeMode",
    "LoguruMode",
    "Mode",
    "ModeLogger",
    "NoLogging",
    "PicologgingMode",
    "StdlibQueueMode",
    "create_modes",
    "parse_modes",
]

_POLL_S = 0.002
_LOGGER_NAME = "framepipe.bench"


@dataclass(frozen=True)
class ModeLogger:
    """What the frame loop calls: ``info(template, index, ms)``; ``info=None`` means no logging."""

    info: LogCall | None
    template: str = LOG_TEMPLATE


@dataclass(frozen=True)
class Counts:
    """Records that reached the sink and records the mode dropped, for one run."""

    written: int
    dropped: int


class Mode:
    """Base class: a named logging setup with start/drain/stop."""

    name: str = ""
    requires: str | None = None  # import name of the package the mode needs
    description: str = ""

    def unavailable_reason(self) -> str | None:
        """None when the mode can run, else why not (its package does not import)."""
        if self.requires is None:
            return None
        try:
            import_module(self.requires)
        except ImportError as exc:
            return f"{self.requires} is not importable ({exc})"
        return None

    def start(self, sink: CountingHandler, directory: Path) -> ModeLogger:
        raise NotImplementedError

    def drain(self, expected: int, timeout: float) -> bool:
        """Wait until ``expected`` records were written or dropped; False on timeout."""
        return True

    def stop(self) -> Counts:
        raise NotImplementedError


def _wait_until(done: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL_S)
    return True


class NoLogging(Mode):
    """The baseline: the frame loop without any log call."""

    name = "none"
    description = "no logging (the baseline)"

    def start(self, sink: CountingHandler, directory: Path) -> ModeLogger:
        return ModeLogger(info=None)

    def stop(self) -> Counts:
        return Counts(written=0, dropped=0)


class FramepipeMode(Mode):
    """framepipe's logger in ``sync`` or ``async`` mode, writing only to the sink.

    ``configure()`` replaces the process-wide logger, so a program that benchmarks in-process
    must configure its own logger again afterwards.
    """

    requires = "framepipe.logging"

    def __init__(self, mode: LogMode) -> None:
        if mode not in ("sync", "async"):
            raise ValueError(f"mode must be 'sync' or 'async', but got {mode!r}")
        self.log_mode: LogMode = mode
        self.name = mode
        self.description = f"framepipe.logging, mode={mode!r}"
        self._log: Any = None

    def start(self, sink: CountingHandler, directory: Path) -> ModeLogger:
        from framepipe.logging import configure

        self._log = configure(
            log_dir=str(directory),
            mode=self.log_mode,
            handlers=[sink],
            capture_stdlib=False,
            console=False,
        )
        return ModeLogger(info=self._log.info)

    def drain(self, expected: int, timeout: float) -> bool:
        return bool(self._log.flush(timeout=timeout))

    def stop(self) -> Counts:
        log, self._log = self._log, None
        log.stop()
        stats = log.get_stats()
        return Counts(written=int(stats["written"]), dropped=int(stats["dropped"]))


class _QueueMode(Mode):
    """Shared drain/stop of the modes that count drops in a queue handler and writes in the sink."""

    def __init__(self) -> None:
        self._sink: CountingHandler | None = None
        self._dropped: Callable[[], int] = lambda: 0

    def drain(self, expected: int, timeout: float) -> bool:
        sink = self._started_sink()
        return _wait_until(lambda: sink.written + self._dropped() >= expected, timeout)

    def _counts(self) -> Counts:
        sink = self._started_sink()
        self._sink = None
        return Counts(written=sink.written, dropped=self._dropped())

    def _started_sink(self) -> CountingHandler:
        if self._sink is None:
            raise RuntimeError(f"mode {self.name!r} must be started first, but it is not running")
        return self._sink


class StdlibQueueMode(_QueueMode):
    """The classic design: ``QueueHandler`` + ``QueueListener`` over ``queue.Queue(10000)``."""

    name = "stdlib-queue"
    description = (
        f"logging.handlers.QueueHandler + QueueListener over queue.Queue({STDLIB_QUEUE_SIZE})"
    )

    def __init__(self, stop_timeout: float = 10.0) -> None:
        super().__init__()
        self._stop_timeout = stop_timeout
        self._baseline: StdlibQueueLogger | None = None

    def start(self, sink: CountingHandler, directory: Path) -> ModeLogger:
        baseline = stdlib_queue_logger(f"{_LOGGER_NAME}.stdlib_queue", sink)
        self._sink, self._baseline = sink, baseline
        self._dropped = lambda: baseline.dropped or 0
        return ModeLogger(info=baseline.logger.info)

    def stop(self) -> Counts:
        baseline, self._baseline = self._baseline, None
        if baseline is not None:
            baseline.stop(self._stop_timeout)
        return self._counts()


class PicologgingMode(_QueueMode):
    """picologging: its ``QueueHandler`` + ``QueueListener`` if it has them, else its plain path."""

    name = "picologging"
    requires = "picologging"

    def __init__(self, use_queue: bool | None = None, stop_timeout: float = 10.0) -> None:
        super().__init__()
        self._use_queue = use_queue
        self._stop_timeout = stop_timeout
        self._logger: Any = None
        self._handler: Any = None
        self._listener: Any = None
        self.description = "picologging"

    def start(self, sink: CountingHandler, directory: Path) -> ModeLogger:
        import picologging

        handlers = getattr(import_module("picologging.handlers"), "QueueHandler", None)
        use_queue = handlers is not None if self._use_queue is None else self._use_queue
        self._logger = picologging.getLogger(f"{_LOGGER_NAME}.picologging")
        self._logger.propagate = False
        self._logger.setLevel(picologging.INFO)
        self._sink = sink
        if use_queue:
            handler, listener = _picologging_queue(sink)
            self._handler, self._listener = handler, listener
            self._dropped = lambda: int(handler.dropped)
            listener.start()
            self.description = (
                f"picologging.handlers.QueueHandler + QueueListener over "
                f"queue.Queue({STDLIB_QUEUE_SIZE})"
            )
        else:
            # No queue handler in this picologging: the sink runs on the caller's thread.
            self._handler = sink
            self._dropped = lambda: 0
            self.description = "picologging plain handler (no QueueHandler: writes on the caller)"
        self._logger.addHandler(self._handler)
        return ModeLogger(info=self._logger.info)

    def stop(self) -> Counts:
        if self._handler is not None:
            self._logger.removeHandler(self._handler)
            self._handler = None
        listener, self._listener = self._listener, None
        if listener is not None:
            stop_listener(listener, self._stop_timeout)
        return self._counts()


def _picologging_queue(sink: CountingHandler) -> tuple[Any, Any]:
    from picologging.handlers import QueueHandler, QueueListener

    class CountingPicoQueueHandler(QueueHandler):
        dropped = 0

        def handleError(self, record: Any) -> None:
            self.dropped += 1

    records: queue.Queue[Any] = queue.Queue(STDLIB_QUEUE_SIZE)
    stdlib_sink: Any = sink  # picologging calls any object with handle(record)
    return CountingPicoQueueHandler(records), QueueListener(records, stdlib_sink)


class LoguruMode(_QueueMode):
    """loguru with ``enqueue=True`` on a private logger core (the global ``logger`` untouched)."""

    name = "loguru"
    requires = "loguru"
    # enqueue=True pickles each record into a multiprocessing.SimpleQueue: a pipe, so once the
    # OS pipe buffer is full the caller blocks until the sink catches up (it never drops).
    description = "loguru, enqueue=True (records pickled into a pipe; blocks when the pipe is full)"

    def __init__(self) -> None:
        super().__init__()
        self._logger: Any = None
        self._handler_id: int | None = None

    def start(self, sink: CountingHandler, directory: Path) -> ModeLogger:
        # A logger with its own core, built as loguru builds its global one, so that neither its
        # default stderr handler nor anyone else's handlers see the benchmark's records.
        internals: Any = import_module("loguru._logger")
        self._logger = internals.Logger(
            core=internals.Core(),
            exception=None,
            depth=0,
            record=False,
            lazy=False,
            colors=False,
            raw=False,
            capture=True,
            patchers=[],
            extra={},
        )
        self._sink = sink
        self._handler_id = self._logger.add(sink, enqueue=True, level="INFO", format="{message}")
        return ModeLogger(info=self._logger.info, template="frame {} processed in {:.3f} ms")

    def stop(self) -> Counts:
        if self._handler_id is not None:
            self._logger.remove(self._handler_id)  # joins loguru's worker once its queue is empty
            self._handler_id = None
        return self._counts()


# name -> factory; the order is the order of the report.
MODES: dict[str, Callable[[], Mode]] = {
    "none": NoLogging,
    "sync": lambda: FramepipeMode("sync"),
    "async": lambda: FramepipeMode("async"),
    "stdlib-queue": StdlibQueueMode,
    "loguru": LoguruMode,
    "picologging": PicologgingMode,
}
DEFAULT_MODE_NAMES: tuple[str, ...] = tuple(MODES)


def parse_modes(text: str) -> list[str]:
    """Parse a comma-separated ``--modes`` list; ``none`` (the baseline) always comes first."""
    names = [item.strip() for item in text.split(",")]
    unknown = [name for name in names if name not in MODES]
    if unknown:
        raise ValueError(
            f"modes must be among {', '.join(MODES)}, but got {', '.join(map(repr, unknown))}"
        )
    if len(set(names)) != len(names):
        raise ValueError(f"modes must be distinct, but got {text!r}")
    return ["none", *(name for name in names if name != "none")]


def create_modes(names: list[str]) -> list[Mode]:
    """Build one mode object per name (``parse_modes`` validated them)."""
    return [MODES[name]() for name in names]
