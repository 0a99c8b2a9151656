"""What a fresh process does with framepipe's logger, one scenario a run; each prints what its
test checks.

    fresh_logger.py SCENARIO [ARG...]

The test picks the working directory (where the implicit ``logs`` directory appears) and
``FRAMEPIPE_LOG_DIR``.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable

from framepipe.logging import configure, get_logger, is_configured


def process_wide() -> dict[str, object]:
    """What a library's logger must leave alone: signal handlers, excepthooks, the root logger."""
    return {
        "sigterm": repr(signal.getsignal(signal.SIGTERM)),
        "sigint": repr(signal.getsignal(signal.SIGINT)),
        "excepthook": repr(sys.excepthook),
        "thread_excepthook": repr(threading.excepthook),
        "root_handlers": repr(logging.getLogger().handlers),
        "root_level": logging.getLogger().level,
    }


def get_logger_then_log() -> None:
    """Print whether ``logs`` exists after get_logger() alone, then log ``first``."""
    log = get_logger(__name__)
    print(os.path.exists("logs"))
    log.info("first")


def log_dir_none() -> None:
    """configure(log_dir=None), a WARNING, and print the log file the stats name."""
    log = configure(log_dir=None)
    log.warning("on stderr")
    print(log.get_stats()["log_file"])


def is_configured_by_a_first_record() -> None:
    """Print is_configured() and whether ``logs`` exists after get_logger(), then is_configured()
    after its first record."""
    log = get_logger("lib")
    seen = [is_configured(), os.path.exists("logs")]
    log.info("first")
    seen.append(is_configured())
    print(json.dumps(seen))


def is_configured_by_configure() -> None:
    """Print is_configured() before configure(), after it, and after stop()."""
    before = is_configured()
    log = configure(log_dir=None)
    during = is_configured()
    log.stop()
    print(json.dumps([before, during, is_configured()]))


def a_library_logs() -> None:
    """A library's first record; print process_wide() before it and after."""
    before = process_wide()
    get_logger("lib").info("from a library")
    print(json.dumps([before, process_wide()]))


def the_app_configures_after_a_library() -> None:
    """A library's first record, then the app's own configure(); print process_wide() before
    and after both."""
    before = process_wide()
    get_logger("lib").info("from a library")
    configure(log_dir=None)
    print(json.dumps([before, process_wide()]))


def library_record(level: str, message: str) -> None:
    """Log ``message`` at ``level`` (a name) as logger ``lib``; print ``returned`` after."""
    get_logger("lib").log(getattr(logging, level), message)
    print("returned")


def implicit_stats() -> None:
    """A first record without configure(); print the implicit logger's stats as JSON."""
    log = get_logger()
    log.info("first")
    print(json.dumps(log.get_stats()))


SCENARIOS: dict[str, Callable[..., None]] = {
    function.__name__: function
    for function in (
        get_logger_then_log,
        log_dir_none,
        is_configured_by_a_first_record,
        is_configured_by_configure,
        a_library_logs,
        the_app_configures_after_a_library,
        library_record,
        implicit_stats,
    )
}

if __name__ == "__main__":
    SCENARIOS[sys.argv[1]](*sys.argv[2:])
