"""What the watched process sends its stats server: plain, picklable values and their framing.

The server runs in a child process (so its HTTP work never holds the frame loop's GIL); the
watched process sends it a :class:`Reading` about ten times a second over the child's stdin,
and between readings an :class:`ApiReply` to each API request the child forwarded.
Only builtins, the small types below and each stream's ``PipelineSnapshot`` (without its frame,
its class in the light leaf ``framepipe._snapshot``) cross the pipe, so the child never imports
numpy, OpenCV or the pipeline.
"""

from __future__ import annotations

import pickle
import struct
from dataclasses import dataclass, field
from typing import IO, Any

from framepipe._snapshot import PipelineSnapshot
from framepipe.monitor.api import ServiceStats

__all__ = [
    "DEFAULT_API_TIMEOUT_S",
    "ApiReply",
    "HistogramData",
    "HostConfig",
    "Reading",
    "StreamReading",
    "read_message",
    "write_message",
]

# (upper bounds, cumulative counts with +Inf last, sum): one histogram as plain values.
HistogramData = tuple[tuple[float, ...], tuple[int, ...], float]

_LENGTH = struct.Struct("!I")
MAX_MESSAGE = 64 * 2**20  # a message larger than this is a broken stream, not a reading
DEFAULT_API_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class StreamReading:
    """One stream in a reading: its snapshot, never with the frame (``last_frame_at`` on the
    watched process's clock), and what the watched process knows besides."""

    snapshot: PipelineSnapshot
    frame_histogram: HistogramData | None = None
    age_histogram: HistogramData | None = None
    node: str | None = None  # the machine running the stream, when elsewhere (Ray)
    pid: int | None = None  # the process running the stream (a worker), if not this one
    restart_count: int | None = None  # its worker's restarts so far, where a supervisor counts


@dataclass(frozen=True)
class Reading:
    """Everything the server reports, taken at ``published_at`` on the watched process's clock.

    ``previews`` holds, per stream, the latest frame as JPEG when it changed since the last
    reading; ``preview_errors`` says, per stream, why its latest frame cannot be shown as JPEG
    (the server answers that stream's frame requests with it). ``error`` is set when the
    streams could not be read; the server answers 500 with it. ``service`` holds a service's
    own counters, when one is attached and could be read.
    """

    published_at: float
    streams: dict[str, StreamReading] = field(default_factory=dict)
    log_stats: dict[str, Any] | None = None
    previews: dict[str, bytes] = field(default_factory=dict)
    error: str | None = None
    preview_errors: dict[str, str] = field(default_factory=dict)
    service: ServiceStats | None = None


@dataclass(frozen=True)
class ApiReply:
    """The answer to the API request ``request_id``: the body is JSON already (None: no body)."""

    request_id: str
    status: int
    body: bytes | None
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class HostConfig:
    """The child's settings, sent once before the first reading."""

    host: str
    port: int
    stall_s: float | None
    parent_pid: int  # whose memory, CPU and process_* metrics to report
    streams: tuple[str, ...] = ()
    allowed_hosts: tuple[str, ...] = ()  # host names answered besides localhost and IP addresses
    api: bool = False  # forward API requests to the watched process
    api_timeout_s: float = DEFAULT_API_TIMEOUT_S  # how long a request waits for its answer


def write_message(stream: IO[bytes], message: object) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_LENGTH.pack(len(data)) + data)
    stream.flush()


def read_message(stream: IO[bytes]) -> Any:
    """The next message, or None once the writer closed the pipe."""
    header = stream.read(_LENGTH.size)
    if len(header) < _LENGTH.size:
        return None
    (length,) = _LENGTH.unpack(header)
    if length > MAX_MESSAGE:
        raise ValueError(f"message of {length} bytes is over the {MAX_MESSAGE} byte limit")
    data = stream.read(length)
    if len(data) < length:
        return None
    return pickle.loads(data)  # the pipe is private to the parent that spawned this process
