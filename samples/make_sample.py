"""Generate the sample clip: a static backdrop with three objects moving across it.

    python samples/make_sample.py                      # samples/sample.mp4, 640x360, 30 FPS, 5 s
    python samples/make_sample.py out.avi --width 1280 --height 720 --seconds 10

The codec follows the extension: ``.mp4`` is MPEG-4 Part 2 (``mp4v``), ``.avi`` is Motion JPEG.
Every frame is a pure function of its index, so the clip is the same on every machine.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

Frame = npt.NDArray[Any]  # OpenCV's stubs type images as integer-or-float arrays

CODECS = {".mp4": "mp4v", ".avi": "MJPG"}
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "sample.mp4"


def render_backdrop(width: int, height: int) -> Frame:
    """A static scene with gradients and a grid, so edge and motion processors see structure."""
    x = np.linspace(0, 1, width, dtype=np.float32)
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None]
    backdrop = np.empty((height, width, 3), np.uint8)
    backdrop[..., 0] = (40 + 120 * x).astype(np.uint8)
    backdrop[..., 1] = (50 + 90 * y).astype(np.uint8)
    backdrop[..., 2] = 70
    step = max(8, width // 16)
    for gx in range(0, width, step):
        cv2.line(backdrop, (gx, 0), (gx, height - 1), (90, 90, 90), 1)
    for gy in range(0, height, step):
        cv2.line(backdrop, (0, gy), (width - 1, gy), (90, 90, 90), 1)
    return backdrop


def _bounce(position: float, span: int) -> int:
    """Fold a position onto [0, span] as an object bouncing between two walls would move."""
    period = 2 * span
    folded = position % period
    return int(folded if folded <= span else period - folded)


def render_frame(index: int, width: int, height: int, backdrop: Frame | None = None) -> Frame:
    """Frame ``index`` of the clip: a ball, a box and a bar moving at different speeds."""
    frame: Frame = (render_backdrop(width, height) if backdrop is None else backdrop).copy()
    unit = min(width, height)
    radius = max(4, unit // 12)
    ball_x = radius + _bounce(index * unit / 40, width - 2 * radius)
    ball_y = radius + _bounce(index * unit / 70, height - 2 * radius)
    cv2.circle(frame, (ball_x, ball_y), radius, (40, 40, 230), -1)

    side = max(6, unit // 8)
    box_x = _bounce(index * unit / 55, width - side)
    box_y = height - side - max(2, unit // 20)
    cv2.rectangle(frame, (box_x, box_y), (box_x + side, box_y + side), (235, 235, 235), -1)

    bar_w, bar_h = max(4, unit // 30), max(8, unit // 4)
    bar_x = width - bar_w - _bounce(index * unit / 90, width - bar_w)
    cv2.rectangle(
        frame, (bar_x, unit // 10), (bar_x + bar_w, unit // 10 + bar_h), (230, 160, 30), -1
    )

    scale = unit / 360
    cv2.putText(
        frame,
        f"{index:05d}",
        (max(2, unit // 40), max(12, unit // 10)),
        cv2.FONT_HERSHEY_SIMPLEX,
        scale,
        (255, 255, 255),
        max(1, round(2 * scale)),
        cv2.LINE_AA,
    )
    return frame


def make_sample(
    path: str | Path, width: int = 640, height: int = 360, fps: float = 30.0, seconds: float = 5.0
) -> int:
    """Write the clip to ``path``; return the number of frames written."""
    path = Path(path)
    codec = CODECS.get(path.suffix.lower())
    if codec is None:
        raise ValueError(f"output must end in .mp4 or .avi, but got {path.name!r}")
    for name, value in (("width", width), ("height", height)):
        if value < 16 or value % 2:
            raise ValueError(f"{name} must be an even number of at least 16, but got {value}")
    if fps <= 0:
        raise ValueError(f"fps must be positive, but got {fps}")
    if seconds <= 0:
        raise ValueError(f"seconds must be positive, but got {seconds}")
    if not path.parent.is_dir():
        raise OSError(f"output directory must exist, but {str(path.parent)!r} does not")
    count = max(1, round(fps * seconds))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*codec), fps, (width, height))
    if not writer.isOpened():
        raise OSError(f"cannot open a {codec} video writer for {str(path)!r}")
    try:
        backdrop = render_backdrop(width, height)
        for index in range(count):
            writer.write(render_frame(index, width, height, backdrop))
    finally:
        writer.release()
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", nargs="?", default=str(DEFAULT_OUTPUT), help=".mp4 or .avi")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args(argv)
    try:
        count = make_sample(args.output, args.width, args.height, args.fps, args.seconds)
    except (ValueError, OSError) as exc:
        print(f"make_sample: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {count} frames ({args.width}x{args.height} @ {args.fps:g} FPS) to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
