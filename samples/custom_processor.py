"""Run framepipe's Pipeline with a processor of your own.

    python samples/custom_processor.py                    # the sample clip next to this script
    python samples/custom_processor.py clip.mp4 --output out.mp4
    python samples/custom_processor.py 0                  # webcam 0

A processor is any callable ``frame -> frame`` (a BGR uint8 numpy array in, a uint8 array of
the same width and height out). It runs on the pipeline's main thread, so it may keep state
without locks. A list of processors runs in order; built-in names and your own callables mix.
Logs go to ``logs/`` (every 30th frame, and budget-miss streaks as warnings).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy.typing as npt

from framepipe import Pipeline
from framepipe.pipeline import OutputError, PipelineError, SourceError

Frame = npt.NDArray[Any]  # OpenCV's stubs type images as integer-or-float arrays
SAMPLE = Path(__file__).resolve().parent / "sample.mp4"


def pixelate(frame: Frame, block: int = 12) -> Frame:
    """A stateless processor: a plain function."""
    height, width = frame.shape[:2]
    small = cv2.resize(frame, (max(1, width // block), max(1, height // block)))
    out: Frame = cv2.resize(small, (width, height), interpolation=cv2.INTER_NEAREST)
    return out


class BrightnessMeter:
    """A stateful processor: a smoothed mean brightness, drawn on every frame."""

    def __init__(self, smoothing: float = 0.9) -> None:
        if not 0 <= smoothing < 1:
            raise ValueError(f"smoothing must be in [0, 1), but got {smoothing}")
        self.smoothing = smoothing
        self.level: float | None = None

    def __call__(self, frame: Frame) -> Frame:
        current = float(frame.mean())
        if self.level is None:
            self.level = current
        else:
            self.level = self.smoothing * self.level + (1 - self.smoothing) * current
        out: Frame = frame.copy()
        cv2.putText(
            out,
            f"brightness {self.level:5.1f}",
            (10, frame.shape[0] - 12),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.6,
            (0, 255, 255),
            2,
            cv2.LINE_AA,
        )
        return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", nargs="?", default=str(SAMPLE), help="file, camera index or URL")
    parser.add_argument("--output", default=None, help="write the processed video here")
    args = parser.parse_args(argv)

    meter = BrightnessMeter()
    try:
        report = Pipeline(
            args.source,
            processor=[pixelate, "motion", meter],  # your functions and built-ins, in order
            budget_ms=33.3,
            log_every=30,
            output=args.output,
        ).run()
    except (SourceError, OutputError, PipelineError) as exc:
        # A source that does not open, an unwritable output, a processor that raised: the
        # messages are one line; a PipelineError also carries the partial report.
        print(f"custom_processor: error: {exc}", file=sys.stderr)
        return 1
    summary = report.to_dict()
    frame_ms = summary["frame_ms"]
    print(
        f"{summary['frames_processed']} frames at {summary['fps']:.1f} FPS, "
        f"p99 {frame_ms['p99']:.2f} ms per frame, {summary['budget_misses']} over budget; "
        f"final brightness {meter.level:.1f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
