"""Camera settings: what a run asks a camera for, and what the camera then says it delivers.

Plain values with their own checks, in a leaf without OpenCV, so a stream's snapshot can carry
them to another process and the stats server can show them. Opening a source with them is
``framepipe.pipeline.sources``'s job.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CAMERA_KEYS",
    "MAX_CAMERA_FPS",
    "MAX_CAMERA_SIDE",
    "CameraReading",
    "CameraSettings",
    "check_camera_fps",
    "check_fourcc",
    "parse_camera_size",
]

CAMERA_KEYS = ("size", "fps", "fourcc")
MAX_CAMERA_SIDE = 16384
MAX_CAMERA_FPS = 1000.0  # sources treat a rate of 1000 or more as nonsense
# A delivered rate this close to the requested one honours it (drivers say 29.97 for 30).
_FPS_TOLERANCE = 0.01

_SIZE = re.compile(r"^(\d{1,5})x(\d{1,5})$")
_FOURCC = re.compile(r"^[\x20-\x7e]{4}$")  # four printable ASCII characters


def parse_camera_size(text: str) -> tuple[int, int]:
    """``"1280x720"`` -> ``(1280, 720)``; ValueError saying what was expected."""
    match = _SIZE.match(text) if isinstance(text, str) else None
    width, height = (int(match[1]), int(match[2])) if match else (0, 0)
    if not (1 <= width <= MAX_CAMERA_SIDE and 1 <= height <= MAX_CAMERA_SIDE):
        raise ValueError(
            f"must be WIDTHxHEIGHT from 1x1 to {MAX_CAMERA_SIDE}x{MAX_CAMERA_SIDE} "
            f"(e.g. 1280x720), but got {_brief(text)}"
        )
    return width, height


def check_fourcc(text: str) -> str:
    """A pixel format code: four printable ASCII characters (``MJPG``, ``YUYV``, ``H264``)."""
    if not (isinstance(text, str) and _FOURCC.match(text)):
        raise ValueError(
            f"must be four printable ASCII characters (e.g. MJPG), but got {_brief(text)}"
        )
    return text


def check_camera_fps(value: Any) -> float:
    """A frame rate to ask for: positive, below ``MAX_CAMERA_FPS``."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not (number and 0 < value < MAX_CAMERA_FPS):  # NaN fails the comparison too
        raise ValueError(
            f"must be a number of frames per second above 0 and below {MAX_CAMERA_FPS:g}, "
            f"but got {_brief(value)}"
        )
    return float(value)


@dataclass(frozen=True)
class CameraSettings:
    """Size (width, height), frame rate and pixel format (FOURCC); None: not set.

    Checked when made: a value that exists is one a camera can be asked for.
    """

    size: tuple[int, int] | None = None
    fps: float | None = None
    fourcc: str | None = None

    def __post_init__(self) -> None:
        if self.size is not None:
            size = self.size
            if not (
                isinstance(size, tuple)
                and len(size) == 2
                and all(isinstance(side, int) and not isinstance(side, bool) for side in size)
            ):
                raise ValueError(f"camera size must be (width, height), but got {size!r}")
            parse_camera_size(f"{size[0]}x{size[1]}")
        if self.fps is not None:
            try:
                check_camera_fps(self.fps)
            except ValueError as exc:
                raise ValueError(f"camera fps {exc}") from None
        if self.fourcc is not None:
            try:
                check_fourcc(self.fourcc)
            except ValueError as exc:
                raise ValueError(f"camera fourcc {exc}") from None

    @property
    def is_empty(self) -> bool:
        return self.size is None and self.fps is None and self.fourcc is None

    def to_dict(self) -> dict[str, Any]:
        """``{"size": "1280x720", "fps": 30.0, "fourcc": "MJPG"}``, None where not set."""
        return {
            "size": None if self.size is None else f"{self.size[0]}x{self.size[1]}",
            "fps": self.fps,
            "fourcc": self.fourcc,
        }

    def __str__(self) -> str:
        parts = [f"{key} {_plain(value)}" for key, value in self.to_dict().items() if value]
        return ", ".join(parts) or "nothing"


@dataclass(frozen=True)
class CameraReading:
    """What a run asked the camera for and what the camera reported after it was asked."""

    requested: CameraSettings
    delivered: CameraSettings

    def not_honoured(self) -> tuple[str, ...]:
        """The requested settings the camera did not take (``("size", "fourcc")``)."""
        requested, delivered = self.requested, self.delivered
        missed = []
        if requested.size is not None and requested.size != delivered.size:
            missed.append("size")
        if requested.fps is not None and (
            delivered.fps is None
            or not math.isclose(delivered.fps, requested.fps, rel_tol=_FPS_TOLERANCE)
        ):
            missed.append("fps")
        if requested.fourcc is not None and requested.fourcc != delivered.fourcc:
            missed.append("fourcc")
        return tuple(missed)

    def describe_not_honoured(self) -> str:
        """``"size 1280x720 (delivers 640x480), fourcc MJPG (delivers unknown)"``."""
        asked, got = self.requested.to_dict(), self.delivered.to_dict()
        return ", ".join(
            f"{key} {_plain(asked[key])} (delivers {_plain(got[key])})"
            for key in self.not_honoured()
        )

    def to_dict(self) -> dict[str, Any]:
        """``{"requested": {...}, "delivered": {...}, "not_honoured": [...]}``."""
        return {
            "requested": self.requested.to_dict(),
            "delivered": self.delivered.to_dict(),
            "not_honoured": list(self.not_honoured()),
        }


def _plain(value: Any) -> str:
    if value is None:
        return "unknown"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _brief(value: Any) -> str:
    """``value`` for a message, cut short when a user typed something very long."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:30]}...({len(text)} characters)"
