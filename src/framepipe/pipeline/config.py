"""``PipelineConfig``: every run setting that is not the source or the processor, as one value.

Frozen and checked once in ``__post_init__``, so a config that exists is valid: it can be
printed, compared, pickled to another process, and varied with ``dataclasses.replace`` (which
checks again). Each field has one checker in ``_CHECKS``; a field added without one fails the
tests.

The output path's form (its extension) is checked here; whether it can be written (its
directory exists, it is not the source) is checked by the ``Pipeline`` that will write it, on
the machine that runs it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal, TypedDict

from framepipe._camera import CameraSettings
from framepipe.pipeline.buffer import DROP_POLICIES
from framepipe.pipeline.output import CODECS
from framepipe.typing import DropPolicy

__all__ = [
    "ON_ERROR",
    "WORKER_KINDS",
    "OnError",
    "PipelineConfig",
    "PipelineOptions",
    "WorkerKind",
]

# stop: a processor exception ends the run; skip: the frame is counted as failed and the run
# goes on (until ``max_consecutive_failures`` frames in a row have failed).
OnError = Literal["stop", "skip"]
ON_ERROR: tuple[OnError, ...] = ("stop", "skip")

# Where parallel copies of the processor chain run: threads of this process (processors that
# release the GIL), or processes of their own (pure-Python work).
WorkerKind = Literal["thread", "process"]
WORKER_KINDS: tuple[WorkerKind, ...] = ("thread", "process")


@dataclass(frozen=True)
class PipelineConfig:
    """How a :class:`~framepipe.pipeline.Pipeline` runs.

    ``budget_ms``: time allowed per frame (None: 1000 / the source's FPS, else 33.3).
    ``log_every``: log every Nth frame. ``output``: write processed frames as a video file.
    ``display``: show frames in a window. ``realtime``: pace a file at its own timestamps.
    ``loop``: a file (or the synthetic scene) starts again from its first frame at its end, its
    frame indexes counting on; a live source cannot loop (the ``Pipeline`` says so).
    ``camera``: the size, frame rate and pixel format a camera is asked for before its first
    read (the synthetic scene takes a size and a rate too; a file or stream cannot be asked).
    ``drop_policy``: ``block`` (every frame) or ``latest`` (newest only); None: ``block`` for
    files, ``latest`` for cameras and streams. ``max_frames``: stop after N frames.
    ``buffer_size``: frames between the reader and the loop under ``block``.
    ``open_timeout_s``: how long a camera or stream may take to open.
    ``miss_streak_warning``: this many budget misses in a row are logged as a WARNING.

    Live sources (cameras, streams): ``stall_timeout_s`` without a frame counts as a disconnect,
    as does a read error; the source is then reopened with exponential backoff and jitter, up to
    ``reconnect_max_s`` between attempts, ``reconnect_attempts`` failed attempts in a row (None:
    never give up; 0: a drop ends the run). Files never reconnect.

    ``on_error``: what a processor exception does: ``stop`` the run, or ``skip`` the frame
    (logged with its index, counted in ``frames_failed``); ``max_consecutive_failures`` skipped
    frames in a row stop the run anyway.

    ``results``: a file (``.jsonl``; ``-``: stdout) that gets one JSON line per frame whose
    processor returned results, written off the frame loop and rotated as the log is.
    ``workers``: copies of the processor chain run on that many frames at once, their outputs
    handed on in frame order; ``worker_kind`` says whether they are threads or processes.
    """

    budget_ms: float | None = None
    log_every: int = 30
    output: str | os.PathLike[str] | None = None
    display: bool = False
    realtime: bool = False
    loop: bool = False
    camera: CameraSettings | None = None
    drop_policy: DropPolicy | None = None
    max_frames: int | None = None
    buffer_size: int = 4
    open_timeout_s: float = 10.0
    miss_streak_warning: int = 5
    stall_timeout_s: float = 5.0
    reconnect_attempts: int | None = None
    reconnect_max_s: float = 30.0
    on_error: OnError = "stop"
    max_consecutive_failures: int = 30
    results: str | os.PathLike[str] | None = None
    workers: int = 1
    worker_kind: WorkerKind = "thread"

    def __post_init__(self) -> None:
        for field in fields(self):
            _CHECKS[field.name](field.name, getattr(self, field.name))


class PipelineOptions(TypedDict, total=False):
    """``PipelineConfig``'s fields as keyword arguments of ``Pipeline`` (for type checkers)."""

    budget_ms: float | None
    log_every: int
    output: str | os.PathLike[str] | None
    display: bool
    realtime: bool
    loop: bool
    camera: CameraSettings | None
    drop_policy: DropPolicy | None
    max_frames: int | None
    buffer_size: int
    open_timeout_s: float
    miss_streak_warning: int
    stall_timeout_s: float
    reconnect_attempts: int | None
    reconnect_max_s: float
    on_error: OnError
    max_consecutive_failures: int
    results: str | os.PathLike[str] | None
    workers: int
    worker_kind: WorkerKind


def _positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, but got {value!r}")


def _optional_positive_int(name: str, value: Any) -> None:
    if value is not None:
        _positive_int(name, value)


def _optional_count(name: str, value: Any) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise ValueError(f"{name} must be an integer >= 0 or None, but got {value!r}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _budget(name: str, value: Any) -> None:
    if value is not None and not (_is_number(value) and 0 < value < math.inf):
        raise ValueError(f"{name} must be positive and finite, but got {value!r}")


def _positive_seconds(name: str, value: Any) -> None:
    if not (_is_number(value) and 0 < value < math.inf):  # nan fails the comparison too
        raise ValueError(f"{name} must be positive and finite, but got {value!r}")


def _flag(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, but got {value!r}")


def _camera(name: str, value: Any) -> None:
    if value is not None and not isinstance(value, CameraSettings):
        raise ValueError(f"{name} must be a CameraSettings or None, but got {value!r}")


def _drop_policy(name: str, value: Any) -> None:
    if value is not None and value not in DROP_POLICIES:
        raise ValueError(f"{name} must be one of {', '.join(DROP_POLICIES)}, but got {value!r}")


def _on_error(name: str, value: Any) -> None:
    if value not in ON_ERROR:
        raise ValueError(f"{name} must be one of {', '.join(ON_ERROR)}, but got {value!r}")


def _results(name: str, value: Any) -> None:
    if value is not None and not isinstance(value, (str, os.PathLike)):
        raise ValueError(f"{name} must be a path, '-' or None, but got {value!r}")
    if value is not None and not str(value):
        raise ValueError(f"{name} must be a path, '-' or None, but got ''")


def _worker_kind(name: str, value: Any) -> None:
    if value not in WORKER_KINDS:
        raise ValueError(f"{name} must be one of {', '.join(WORKER_KINDS)}, but got {value!r}")


def _output(name: str, value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, (str, os.PathLike)):
        raise ValueError(f"{name} must be a path or None, but got {value!r}")
    suffix = Path(value).suffix.lower()
    if suffix not in CODECS:
        raise ValueError(
            f"output file extension must be one of {', '.join(CODECS)}, "
            f"but got {Path(value).name!r}"
        )


_CHECKS: dict[str, Callable[[str, Any], None]] = {
    "budget_ms": _budget,
    "log_every": _positive_int,
    "output": _output,
    "display": _flag,
    "realtime": _flag,
    "loop": _flag,
    "camera": _camera,
    "drop_policy": _drop_policy,
    "max_frames": _optional_positive_int,
    "buffer_size": _positive_int,
    "open_timeout_s": _positive_seconds,
    "miss_streak_warning": _positive_int,
    "stall_timeout_s": _positive_seconds,
    "reconnect_attempts": _optional_count,
    "reconnect_max_s": _positive_seconds,
    "on_error": _on_error,
    "max_consecutive_failures": _positive_int,
    "results": _results,
    "workers": _positive_int,
    "worker_kind": _worker_kind,
}
