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
from typing import IO, TYPE_CHECKING, Any

from framepipe._snapshot import PipelineSnapshot
from framepipe.monitor.jpeg import JpegCache
from framepipe.monitor.providers import HistogramProvider, Monitored, SnapshotProvider
from framepipe.monitor.reading import HistogramData, Reading, StreamReading, write_message

if TYPE_CHECKING:
    from framepipe.pipeline.histogram import HistogramReading

__all__ = ["INTERVAL_S", "Publisher", "stream_reading"]

INTERVAL_S = 0.1
FRAMES_WANTED_S = 2.0  # after the server last asked for frames, keep encoding this long


def stream_reading(snapshot: PipelineSnapshot, provider: SnapshotProvider) -> StreamReading:
    """A stream's snapshot, without its frame and in plain values, with the provider's
    histograms if it keeps them and where it runs if it says."""
    frame_histogram = age_histogram = None
    if isinstance(provider, HistogramProvider):
        pair = provider.histograms()
        frame_histogram, age_histogram = _plain(pair.frame.read()), _plain(pair.age.read())
    return StreamReading(
        snapshot=_plain_snapshot(snapshot),
        frame_histogram=frame_histogram,
        age_histogram=age_histogram,
        node=_node(provider),
        pid=_pid(provider),
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


def _plain(reading: HistogramReading) -> HistogramData:
    return reading.bounds, reading.cumulative, float(reading.sum)


class Publisher:
    """Builds readings from ``monitored`` and writes them to ``out`` (the server's stdin)."""

    def __init__(
        self, monitored: Monitored, out: IO[bytes], interval_s: float = INTERVAL_S
    ) -> None:
        self._monitored = monitored
        self._out = out
        self._interval_s = interval_s
        self._jpeg = JpegCache()
        self._sent_jpeg: bytes | None = None
        self._frames_wanted_until = float("-inf")
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="framepipe-monitor-publisher", daemon=True
        )

    def want_frames(self) -> None:
        """The server has a client for frames: encode them for a while."""
        self._frames_wanted_until = time.monotonic() + FRAMES_WANTED_S

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
        except Exception as exc:  # reported by the server as a 500, the run goes on
            error = f"{type(exc).__name__}: {exc}"
        published_at = self._monitored.clock()
        return Reading(published_at, streams, log_stats, self._frame(snapshots), error)

    def publish(self) -> None:
        write_message(self._out, self.reading())

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float) -> None:
        """End the thread; the server sees its stdin close and shuts down."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        else:
            self._close()

    def _frame(self, snapshots: dict[str, PipelineSnapshot]) -> bytes | None:
        """A new JPEG of the first stream's latest frame when a client wants one, else None."""
        if time.monotonic() > self._frames_wanted_until or not snapshots:
            return None
        jpeg = self._jpeg.get(next(iter(snapshots.values())).latest_frame)
        if jpeg is None or jpeg is self._sent_jpeg:
            return None
        self._sent_jpeg = jpeg
        return jpeg

    def _run(self) -> None:
        try:
            while not self._stop.wait(self._interval_s):
                self.publish()
        except (OSError, ValueError):
            pass  # the server process is gone
        finally:
            self._close()

    def _close(self) -> None:
        try:
            self._out.close()
        except OSError:
            pass
