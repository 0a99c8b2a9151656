"""The types framepipe's users annotate with, in one place.

``Frame``, ``ProcessorFn`` and ``ProcessorSpec`` need numpy, so they are resolved on first use:
``from framepipe.typing import LogStats`` keeps a logging-only program free of numpy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypedDict

__all__ = [
    "ChannelStats",
    "ConnectionStats",
    "DropPolicy",
    "Frame",
    "LogMode",
    "LogStats",
    "Overflow",
    "ProcessorFn",
    "ProcessorSpec",
]

# block: the reader waits for room, every frame is processed; latest: only the newest frame is
# kept and the skipped ones are counted.
DropPolicy = Literal["block", "latest"]
# What a full log queue does with an ordinary record.
Overflow = Literal["drop_newest", "drop_oldest", "block"]
# async: a writer thread writes; sync: the caller writes.
LogMode = Literal["async", "sync"]


class ChannelStats(TypedDict):
    """``get_stats()["channel"]`` of a process whose children write through it (``address()``)."""

    connected: int  # children connected now
    received: int  # their records taken into this process's queue
    refused: int  # their records this process could no longer take


class ConnectionStats(TypedDict):
    """``get_stats()["channel"]`` of a process connected to a parent's channel (``connect()``)."""

    stream: str
    connected: bool  # False once the parent's end is gone
    in_flight: int  # records sent and not yet acknowledged


class _LogStatsChannel(TypedDict, total=False):
    # Present only where a log channel exists: NotRequired without typing_extensions on 3.10.
    channel: ChannelStats | ConnectionStats


class LogStats(_LogStatsChannel):
    """``Logger.get_stats()``: the logger's settings and its counters (counters only go up)."""

    queue_size: int
    queue_maxsize: int
    log_file: str | None
    listener_running: bool
    mode: LogMode
    overflow: Overflow
    level: str
    protect_level: str
    accepted: int
    written: int
    dropped: int
    dropped_by_level: dict[str, int]
    evicted: int
    discarded_after_stop: int
    errors: int
    high_water: int


if TYPE_CHECKING:
    from typing import TypeAlias

    import numpy.typing as npt

    # An image as OpenCV gives it: HxWx3 BGR uint8 (HxW for gray); processors may return others.
    Frame: TypeAlias = npt.NDArray[Any]
    # A processor takes a frame and returns the frame to pass on (None: unchanged), or that and
    # what it found in the frame: (frame, results), results being anything JSON can hold.
    ProcessorFn: TypeAlias = Callable[[Frame], Frame | tuple[Frame | None, Any] | None]
    # A built-in name, an import path "package.module:attr", a callable, or a list of them.
    ProcessorSpec: TypeAlias = str | ProcessorFn | Sequence[str | ProcessorFn] | None


def __getattr__(name: str) -> Any:
    if name in ("Frame", "ProcessorFn", "ProcessorSpec"):
        import numpy as np

        # What npt.NDArray[Any] stands for, spelt out: where numpy declares NDArray with a `type`
        # statement (newer numpy, on newer Pythons), get_origin(NDArray[Any]) is that alias
        # object, not ndarray. Spelt out, Frame is the same ndarray alias on every version.
        frame = np.ndarray[Any, np.dtype[Any]]
        processor_fn = Callable[[frame], frame | tuple[frame | None, Any] | None]
        aliases = {
            "Frame": frame,
            "ProcessorFn": processor_fn,
            "ProcessorSpec": str | processor_fn | Sequence[str | processor_fn] | None,
        }
        globals().update(aliases)
        return aliases[name]
    raise AttributeError(f"module 'framepipe.typing' has no attribute {name!r}")
