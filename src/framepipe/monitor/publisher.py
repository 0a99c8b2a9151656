"""The watched process's side: a thread that sends the stats server a reading ten times a second.

Each reading costs the frame loop's process one ``snapshot()`` per stream and one
``get_stats()``: a fraction of a millisecond of GIL, ten times a second, however many clients
the server has. Frames are JPEG-encoded here (OpenCV releases the GIL while it encodes) only
while the server says a client is looking, at most four a second.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Mapping
from typing import IO, TYPE_CHECKING, Any

from framepipe._snapshot import PipelineSnapshot
from framepipe._text import one_line
from framepipe.monitor._once import OncePerKind
from framepipe.monitor.api import ServiceStats
from framepipe.monitor.jpeg import JpegCache, PreviewError
from framepipe.monitor.providers import (
    HistogramProvider,
    Monitored,
    PreviewProvider,
    SnapshotProvider,
)
from framepipe.monitor.reading import HistogramData, Reading, StreamReading, write_message

if TYPE_CHECKING:
    from framepipe._snapshot import HistogramCounts

__all__ = ["INTERVAL_S", "NO_PREVIEW", "Publisher", "plain_service_stats", "stream_reading"]

INTERVAL_S = 0.1
FRAMES_WANTED_S = 2.0  # after the server last asked for frames, keep encoding this long
NO_PREVIEW = "the latest frame cannot be shown as JPEG"


def stream_reading(snapshot: PipelineSnapshot, provider: SnapshotProvider) -> StreamReading:
    """A stream's snapshot, without its frame and in plain values, with the provider's
    histograms if it keeps them and where it runs if it says."""
    frame_histogram = age_histogram = None
    if snapshot.frame_histogram is not None and snapshot.age_histogram is not None:
        # Counted where the stream runs (this process, a worker, a Ray actor).
        frame_histogram, age_histogram = _plain(snapshot.frame_histogram), _plain(
            snapshot.age_histogram
        )
    elif isinstance(provider, HistogramProvider):
        pair = provider.histograms()
        frame_histogram, age_histogram = _plain(pair.frame.read()), _plain(pair.age.read())
    bare = dataclasses.replace(
        snapshot, frame_histogram=None, age_histogram=None, frame_sketch=None, age_sketch=None
    )  # the server reads the histograms apart and needs no sketch
    return StreamReading(
        snapshot=_plain_snapshot(bare),
        frame_histogram=frame_histogram,
        age_histogram=age_histogram,
        node=_node(provider),
        pid=_pid(provider),
        restart_count=_restart_count(provider),
    )


def _plain_snapshot(snapshot: PipelineSnapshot) -> PipelineSnapshot:
    """``snapshot`` without its frame, its numbers Python's own: a loop of one's own may hand
    numpy's, which would make the server's process import numpy to read them."""
    bare = snapshot.without_frame()
    plain = {f.name: _builtin(getattr(bare, f.name)) for f in dataclasses.fields(bare)}
    return dataclasses.replace(bare, **plain)


def _builtin(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _builtin(item) for key, item in value.items()}
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        return value.item()  # a numpy scalar: the int or float it holds
    return value


def _node(provider: SnapshotProvider) -> str | None:
    """The provider's ``node`` (a stream of the Ray engine), if it has one."""
    node = getattr(provider, "node", None)
    return node if isinstance(node, str) else None


def _pid(provider: SnapshotProvider) -> int | None:
    """The provider's ``pid`` (a worker process of a stream), if it has one."""
    pid = getattr(provider, "pid", None)
    return pid if isinstance(pid, int) and not isinstance(pid, bool) else None


def _restart_count(provider: SnapshotProvider) -> int | None:
    """The provider's ``restart_count`` (a supervised stream's restarts), if it has one."""
    count = getattr(provider, "restart_count", None)
    return count if isinstance(count, int) and not isinstance(count, bool) else None


def _plain(reading: HistogramCounts) -> HistogramData:
    return reading.bounds, reading.cumulative, float(reading.sum)


def plain_service_stats(stats: object) -> ServiceStats:
    """A service's counters in plain ints; TypeError or KeyError when they are not counters."""
    if not isinstance(stats, Mapping):
        raise TypeError(f"service stats are a mapping, not {type(stats).__name__}")
    reloads = stats["config_reloads"]
    counts: dict[str, int] = {}
    for result in ("ok", "error"):
        count = _builtin(reloads[result])
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise TypeError(f"config_reloads[{result!r}] is a count, not {count!r}")
        counts[result] = count
    return ServiceStats(config_reloads=counts)


class Publisher:
    """Builds readings from ``monitored`` and writes them to ``out`` (the server's stdin).

    Nothing that goes wrong in a reading ends the thread: each kind of failure is logged once
    through ``failures`` and publishing goes on. A write to a server process that is gone is
    left to whoever watches that process (a ``StatsServer`` starts a new one and hands it to
    :meth:`attach`).
    """

    def __init__(
        self,
        monitored: Monitored,
        out: IO[bytes],
        interval_s: float = INTERVAL_S,
        failures: OncePerKind | None = None,
    ) -> None:
        self._monitored = monitored
        self._out = out
        # The thread's writes, a restart's first reading and the API's answers.
        self._out_lock = threading.Lock()
        self._interval_s = interval_s
        self._failures = failures if failures is not None else OncePerKind()
        self._jpegs: dict[str, JpegCache] = {}  # per stream whose frames are in this process
        self._sent: dict[str, object] = {}  # per stream, the preview last sent (identity)
        self._wanted_until: dict[str, float] = {}  # per stream, until when frames are wanted
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="framepipe-monitor-publisher", daemon=True
        )

    def want_frames(self, stream: str | None = None) -> None:
        """The server has a client for ``stream``'s frames (default: the first stream's):
        encode them, or ask its worker to, for a while."""
        if stream is None:
            stream = next(iter(self._monitored.streams), None)
            if stream is None:
                return
        self._wanted_until[stream] = time.monotonic() + FRAMES_WANTED_S

    def reading(self) -> Reading:
        snapshots: dict[str, PipelineSnapshot] = {}
        streams: dict[str, StreamReading] = {}
        log_stats: dict[str, Any] | None = None
        error = None
        try:
            for name, provider in self._monitored.streams.items():
                snapshots[name] = provider.snapshot()
                streams[name] = stream_reading(snapshots[name], provider)
            stats = self._monitored.log_stats()
            log_stats = None if stats is None else dict(stats)
            self._forget_except(streams)
        except Exception as exc:  # reported by the server as a 500, the run goes on
            error = f"{type(exc).__name__}: {exc}"
        published_at = self._monitored.clock()
        previews, preview_errors = self._frames(snapshots)
        return Reading(
            published_at, streams, log_stats, previews, error, preview_errors, self._service()
        )

    def _service(self) -> ServiceStats | None:
        """The service's counters; None without a service, or when they cannot be read (logged
        once: a service's own trouble never takes the monitoring down)."""
        provider = self._monitored.service
        if provider is None:
            return None
        try:
            return plain_service_stats(provider())
        except Exception as exc:
            self._failures.error("reading the service's stats", exc)
            return None

    def _forget_except(self, streams: dict[str, StreamReading]) -> None:
        """Drop what is kept for streams that left a changing set."""
        kept: tuple[dict[str, Any], ...] = (self._jpegs, self._sent, self._wanted_until)
        for per_stream in kept:
            for name in list(per_stream):  # a copy: the server's requests add to it meanwhile
                if name not in streams:
                    per_stream.pop(name, None)

    def publish(self, out: IO[bytes] | None = None) -> None:
        """Write a reading to ``out``, by default the server this publisher serves."""
        reading = self.reading()
        with self._out_lock:
            write_message(self._out if out is None else out, reading)

    def send(self, message: object) -> None:
        """Write ``message`` (an answer to the server process) between two readings; OSError or
        ValueError when the server process is gone."""
        with self._out_lock:
            write_message(self._out, message)

    def attach(self, out: IO[bytes]) -> None:
        """From now on write to ``out`` (a new server process), starting with the latest frame;
        the previous output is closed."""
        with self._out_lock:
            old, self._out = self._out, out
            self._sent.clear()
            try:
                old.close()
            except OSError:
                pass  # a broken pipe to a process that is gone

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float) -> None:
        """End the thread; the server sees its stdin close and shuts down."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        else:
            self._close()

    def _frames(
        self, snapshots: dict[str, PipelineSnapshot]
    ) -> tuple[dict[str, bytes], dict[str, str]]:
        """New JPEGs of the streams whose frames a client wants, and why a stream's latest frame
        cannot be shown, where it cannot."""
        previews: dict[str, bytes] = {}
        errors: dict[str, str] = {}
        now = time.monotonic()
        for name, snapshot in snapshots.items():
            if now > self._wanted_until.get(name, float("-inf")):
                continue
            provider = self._monitored.streams.get(name)
            if provider is None:  # removed from a changing set since the snapshots were read
                continue
            if isinstance(provider, PreviewProvider):
                jpeg, error = self._from_worker(name, provider)
            else:
                jpeg, error = self._encode(name, snapshot)
            if error is not None:
                errors[name] = error
            elif jpeg is not None and jpeg is not self._sent.get(name):
                self._sent[name] = jpeg
                previews[name] = jpeg
        return previews, errors

    def _from_worker(
        self, name: str, provider: PreviewProvider
    ) -> tuple[bytes | None, str | None]:
        """The latest preview a worker sent; it is asked to go on sending them a while."""
        try:
            provider.want_preview()
            jpeg, error = provider.preview()
        except Exception as exc:
            self._failures.error(f"asking stream {name} for a preview", exc)
            return None, None
        if error is not None:
            self._failures.warning(f"preview {name}", f"stream {name}: {error}")
            return None, f"{NO_PREVIEW}: {error}"
        return jpeg, None

    def _encode(self, name: str, snapshot: PipelineSnapshot) -> tuple[bytes | None, str | None]:
        """A JPEG of a stream's latest frame, held in this process."""
        cache = self._jpegs.setdefault(name, JpegCache())
        try:
            return cache.get(snapshot.latest_frame), None
        except PreviewError as exc:  # what the processor returned is not an image
            reason = f"{NO_PREVIEW}: {exc}"
            self._failures.warning("preview", f"{reason}; frame requests are answered with this")
            return None, reason
        except Exception as exc:
            self._failures.error("encoding the latest frame", exc)
            return None, f"{NO_PREVIEW}: {one_line(exc)}"

    def _run(self) -> None:
        try:
            while not self._stop.wait(self._interval_s):
                self._publish_once()
            self._publish_once()  # the final reading (a run's "ended" and its last counts)
        finally:
            self._close()

    def _publish_once(self) -> None:
        try:
            self.publish()
        except Exception as exc:  # one bad reading must not end the monitoring
            if not self._server_gone(exc):
                self._failures.error("publishing a reading", exc)

    def _server_gone(self, exc: Exception) -> bool:
        """A write to a server process that has ended (a broken or closed pipe)."""
        return isinstance(exc, OSError) or (isinstance(exc, ValueError) and self._out.closed)

    def _close(self) -> None:
        with self._out_lock:
            try:
                self._out.close()
            except OSError:
                pass
