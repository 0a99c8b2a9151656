"""The logger's settings and their defaults, defined once.

``configure()``'s signature, the implicit configuration of a first record, the checks of
``configure()``/``connect()`` and what a connected child runs with when its parent has no queue
all take them from here. The accepted values are spelled out (not derived from the ``Literal``s of
``framepipe.typing``); a test holds the two equal.
"""

from __future__ import annotations

from framepipe.typing import LogMode, Overflow

__all__ = [
    "BACKUP_COUNT",
    "BLOCK_TIMEOUT_S",
    "FLUSH_TIMEOUT_S",
    "LEVEL",
    "LOG_DIR",
    "MAX_BYTES",
    "MODE",
    "MODES",
    "OVERFLOW",
    "OVERFLOW_POLICIES",
    "PROTECT_LEVEL",
    "QUEUE_SIZE",
]

# What a full queue does with an ordinary record (see ``_queue``).
OVERFLOW_POLICIES: tuple[Overflow, ...] = ("drop_newest", "drop_oldest", "block")
# async: a writer thread writes; sync: the caller writes.
MODES: tuple[LogMode, ...] = ("async", "sync")

LOG_DIR = "logs"
LEVEL = "INFO"
QUEUE_SIZE = 10_000
OVERFLOW: Overflow = "drop_newest"
PROTECT_LEVEL = "WARNING"
# How long a protected record (or any, under "block") waits for room in a full queue.
BLOCK_TIMEOUT_S = 0.1
MAX_BYTES = 10 * 1024 * 1024
BACKUP_COUNT = 5
MODE: LogMode = "async"
# How long ``flush()`` waits for the writer, unless told otherwise.
FLUSH_TIMEOUT_S = 5.0
