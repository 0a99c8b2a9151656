"""The service's record of each stream's settings and where it came from (the file or the API).

The running stream set knows what each stream does (its state), not what it was asked to be;
this record does. The API reads it for ``GET /streams``, the API and a config reload change it,
from their own threads, so every read and change holds one lock and every read returns a copy.

A change claims its stream's name here before it asks the set, so two requests for one name, or
for one output video, cannot both go ahead. (A results file may be shared: the set writes each
file through one writer.)
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from framepipe.pipeline.stream_settings import StreamSettings

__all__ = ["Origin", "ServiceStreams", "StreamConflict", "StreamEntry"]

Origin = Literal["file", "api"]


class StreamConflict(ValueError):
    """A stream that cannot be recorded: its name or its output is another stream's (one line)."""


@dataclass(frozen=True)
class StreamEntry:
    """One stream's settings and whether the config file or the API asked for it."""

    settings: StreamSettings
    origin: Origin

    @property
    def name(self) -> str:
        return self.settings.name


class ServiceStreams:
    """Each stream's :class:`StreamEntry` by name; safe to use from any thread."""

    def __init__(self, entries: Iterable[StreamEntry] = ()) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, StreamEntry] = {}
        for entry in entries:  # the file's, checked as a whole by its reader
            self._entries[entry.name] = entry

    @classmethod
    def from_file(cls, streams: Iterable[StreamSettings]) -> ServiceStreams:
        """The record of a config file's streams."""
        return cls(StreamEntry(settings, "file") for settings in streams)

    def claim(self, entry: StreamEntry, most: int | None = None) -> None:
        """Record ``entry``; StreamConflict when its name, or the video it writes, is taken, or
        when ``most`` streams are recorded already."""
        with self._lock:
            if entry.name in self._entries:
                raise StreamConflict(f"a stream named {entry.name!r} is in the service already")
            if most is not None and len(self._entries) >= most:
                raise StreamConflict(
                    f"the service runs {len(self._entries)} streams, and the API adds none "
                    f"beyond {most} ([server] api_max_streams)"
                )
            mine = _output(entry.settings)
            for other in self._entries.values():
                if mine is not None and mine == _output(other.settings):
                    raise StreamConflict(f"output {mine} is written by stream {other.name!r}")
            self._entries[entry.name] = entry

    def record(self, entry: StreamEntry) -> None:
        """Record ``entry`` in place of whatever had its name (a reloaded file's stream)."""
        with self._lock:
            self._entries[entry.name] = entry

    def release(self, entry: StreamEntry) -> None:
        """Forget ``entry``, only if it is still the one recorded under its name (a change that
        was not made gives back its claim, never another's)."""
        with self._lock:
            if self._entries.get(entry.name) is entry:
                del self._entries[entry.name]

    def forget(self, name: str) -> StreamEntry | None:
        """Forget the stream ``name`` (removed from the set); what was recorded, if anything."""
        with self._lock:
            return self._entries.pop(name, None)

    def get(self, name: str) -> StreamEntry | None:
        with self._lock:
            return self._entries.get(name)

    def entries(self) -> dict[str, StreamEntry]:
        """Every entry by name, in the order they were recorded (a copy)."""
        with self._lock:
            return dict(self._entries)

    def names(self, origin: Origin | None = None) -> tuple[str, ...]:
        """The names recorded, of one origin or all."""
        with self._lock:
            return tuple(
                name
                for name, entry in self._entries.items()
                if origin is None or entry.origin == origin
            )

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __repr__(self) -> str:
        return f"<ServiceStreams {list(self.entries())}>"


def _output(settings: StreamSettings) -> str | None:
    """The video a stream writes, as an absolute path."""
    output = settings.config.output
    return None if output is None else os.path.abspath(os.fspath(output))
