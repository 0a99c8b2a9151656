"""The built-in generated scene: moving shapes on a gradient, the frame index drawn in.

Frames are a pure function of their index, so two runs see the same pixels; the scene needs no
file, camera or network, which makes ``framepipe run`` work right after installation.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace

import cv2
import numpy as np

from framepipe.typing import Frame

__all__ = ["DEFAULT_SCENE", "Frame", "SyntheticScene", "render_frame"]

MIN_FPS, MAX_FPS = 0.01, 1000.0  # sources treat a rate of 1000 or more as nonsense too
MAX_SECONDS = 365 * 24 * 3600

_SPEC = re.compile(r"^(?P<w>\d+)x(?P<h>\d+)@(?P<fps>\d+(?:\.\d+)?):(?P<seconds>\d+(?:\.\d+)?)$")

# Shapes: (kind, BGR colour, relative size, horizontal speed, vertical speed, phase) — speeds are
# in periods per 10 s, so the motion looks alike at any frame rate.
_SHAPES = (
    ("circle", (40, 200, 255), 0.08, 1.0, 0.7, 0.0),
    ("rect", (255, 120, 40), 0.10, 0.6, 1.3, 1.7),
    ("circle", (90, 255, 90), 0.05, 1.7, 1.1, 3.1),
    ("rect", (200, 60, 220), 0.06, 1.2, 0.5, 4.4),
)


@dataclass(frozen=True)
class SyntheticScene:
    """Size, frame rate and length of the generated scene."""

    width: int = 1280
    height: int = 720
    fps: float = 30.0
    seconds: float = 10.0

    def __post_init__(self) -> None:
        if self.width < 16 or self.height < 16:
            raise ValueError(
                f"scene size must be at least 16x16, but got "
                f"{_brief(self.width)}x{_brief(self.height)}"
            )
        if self.width > 7680 or self.height > 4320:
            raise ValueError(
                f"scene size must be at most 7680x4320, but got "
                f"{_brief(self.width)}x{_brief(self.height)}"
            )
        # Written as "not in range" so NaN fails too; the bounds keep 1000/fps and fps*seconds
        # finite (a subnormal rate made the budget infinite).
        if not MIN_FPS <= self.fps <= MAX_FPS:
            raise ValueError(
                f"scene fps must be positive, from {MIN_FPS:g} to {MAX_FPS:g}, "
                f"but got {_brief(self.fps)}"
            )
        if not 0 < self.seconds <= MAX_SECONDS:
            raise ValueError(
                f"scene length must be positive, at most {MAX_SECONDS} s, "
                f"but got {_brief(self.seconds)} s"
            )

    @property
    def frame_count(self) -> int:
        """Number of frames: ``round(fps * seconds)``, at least one."""
        return max(1, round(self.fps * self.seconds))

    @classmethod
    def from_spec(cls, spec: str) -> SyntheticScene:
        """Parse ``synthetic`` or ``synthetic:WxH@FPS:SECONDS`` (``ValueError`` when malformed)."""
        if spec == "synthetic":
            return cls()
        prefix = "synthetic:"
        match = _SPEC.match(spec[len(prefix) :]) if spec.startswith(prefix) else None
        if match is None:
            raise ValueError(
                f"synthetic source must be 'synthetic' or 'synthetic:WxH@FPS:SECONDS' "
                f"(e.g. synthetic:1280x720@30:10), but got {spec!r}"
            )
        return cls(
            width=int(match["w"]),
            height=int(match["h"]),
            fps=float(match["fps"]),
            seconds=float(match["seconds"]),
        )

    def with_camera(self, size: tuple[int, int] | None, fps: float | None) -> SyntheticScene:
        """The scene at the size and rate a camera was asked for, as long as before
        (``ValueError`` outside the scene's limits)."""
        width, height = size if size is not None else (self.width, self.height)
        return replace(self, width=width, height=height, fps=self.fps if fps is None else fps)

    def __str__(self) -> str:
        return f"synthetic:{self.width}x{self.height}@{self.fps:g}:{self.seconds:g}"


DEFAULT_SCENE = SyntheticScene()


def _brief(value: float) -> str:
    """``value`` for an error message, shortened when a user typed hundreds of digits."""
    text = f"{value:g}" if isinstance(value, float) else str(value)
    return text if len(text) <= 16 else f"{text[:6]}...({len(text)} digits)"


def _background(width: int, height: int) -> Frame:
    """A static diagonal gradient, so edge and motion processors see structure, not a flat field."""
    xs = np.linspace(0, 90, width, dtype=np.float32)[None, :]
    ys = np.linspace(0, 60, height, dtype=np.float32)[:, None]
    base = xs + ys
    frame = np.empty((height, width, 3), dtype=np.uint8)
    frame[..., 0] = (base + 40).astype(np.uint8)
    frame[..., 1] = (base * 0.6 + 30).astype(np.uint8)
    frame[..., 2] = (150 - base * 0.5).astype(np.uint8)
    return frame


class _Renderer:
    """Renders frames of one scene, reusing its pre-computed background."""

    def __init__(self, scene: SyntheticScene) -> None:
        self.scene = scene
        self._background = _background(scene.width, scene.height)

    def render(self, index: int) -> Frame:
        scene = self.scene
        w, h = scene.width, scene.height
        frame: Frame = self._background.copy()
        t = index / scene.fps
        short = min(w, h)
        for kind, colour, size, fx, fy, phase in _SHAPES:
            half = max(2, int(size * short))
            # Positions follow smooth closed paths (a Lissajous figure), kept inside the frame.
            cx = int((w - 2 * half) * (0.5 + 0.5 * math.sin(2 * math.pi * fx * t / 10 + phase)))
            cy = int((h - 2 * half) * (0.5 + 0.5 * math.sin(2 * math.pi * fy * t / 10 + phase * 2)))
            cx, cy = cx + half, cy + half
            if kind == "circle":
                cv2.circle(frame, (cx, cy), half, colour, thickness=-1, lineType=cv2.LINE_AA)
            else:
                cv2.rectangle(frame, (cx - half, cy - half), (cx + half, cy + half), colour, -1)
        scale = max(0.3, short / 480)
        cv2.putText(
            frame,
            f"frame {index}",
            (int(10 * scale), int(34 * scale)),
            cv2.FONT_HERSHEY_SIMPLEX,
            scale,
            (255, 255, 255),
            max(1, int(2 * scale)),
            cv2.LINE_AA,
        )
        return frame


def render_frame(scene: SyntheticScene, index: int) -> Frame:
    """Render frame ``index`` of ``scene`` (BGR, uint8); deterministic."""
    if index < 0:
        raise ValueError(f"frame index must be >= 0, but got {index}")
    return _Renderer(scene).render(index)
