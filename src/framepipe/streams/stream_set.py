"""A stream set that changes while it runs: the values and errors of its changes.

A running :class:`~framepipe.streams.api.StreamsHandle` takes streams added, removed and
restarted from any thread (``add_stream``, ``remove_stream``, ``restart_stream``) and lists them
(``list_streams``). Each change is a command applied on the supervisor's own thread, in order,
and answered with a :class:`StreamState` (or the removed stream's result), or with one of the
errors below, each a one-line message, each of its own kind so that an API can answer with the
status it means (a name in use: 409, an unknown stream: 404).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from framepipe._snapshot import RunState

__all__ = [
    "StreamNameInUse",
    "StreamSetBusy",
    "StreamSetClosed",
    "StreamSetError",
    "StreamState",
    "UnknownStream",
]


class StreamSetError(RuntimeError):
    """A change to a running stream set that was not made; the message says why, in one line."""


class StreamNameInUse(StreamSetError):
    """A stream of that name is in the set already (one being removed counts until it is gone)."""


class UnknownStream(StreamSetError):
    """No stream of that name is in the set."""


class StreamSetClosed(StreamSetError):
    """The set is stopping or has ended: it takes no more changes."""


class StreamSetBusy(StreamSetError):
    """Too many changes wait to be applied; try again in a moment."""


@dataclass(frozen=True)
class StreamState:
    """One stream of a running set, as its supervisor sees it now.

    ``state``: its latest snapshot's (``starting``, ``running``, ``reconnecting``, ``stopping``,
    ``ended``); a stream waiting to be restarted is ``starting``. ``frames_processed`` counts
    every attempt. ``restart_count``: the attempts that failed and were restarted (a restart asked
    for is not one). ``error``: why it ended, once it has ended with an error; else None.
    """

    name: str
    source: str
    state: RunState
    pid: int | None
    node: str | None
    frames_processed: int
    restart_count: int
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
