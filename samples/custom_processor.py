"""Run framepipe's Pipeline with processors of your own.

    python samples/custom_processor.py                    # the sample clip next to this script
    python samples/custom_processor.py clip.mp4 --output out.mp4
    python samples/custom_processor.py 0                  # webcam 0

The same processors from the command line, by import path (run in this directory, so that
``custom_processor`` is importable; a class is instantiated once for the run):

    framepipe run sample.mp4 --processor custom_processor:pixelate --processor motion
    framepipe run sample.mp4 --processor custom_processor:BrightnessMeter

A processor is any callable ``frame -> frame`` (a BGR uint8 numpy array in, a uint8 array of
the same width and height out). It runs on the pipeline's main thread, so it may keep state
without locks. A list of processors runs in order; built-in names, import paths
``"module:function"`` / ``"module:Class"`` (which another process can rebuild) and your own
callables mix. This script is the application, so it configures logging: ``logs/`` (every 30th
frame, and budget-miss streaks as warnings); the pipeline logs through what it is handed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy.typing as npt

from framepipe import Pipeline, PipelineConfig
from framepipe.logging import configure
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

    meter = BrightnessMeter()  # an instance of our own, to read its level at the end
    log = configure(log_dir="logs")
    try:
        config = PipelineConfig(budget_ms=33.3, log_every=30, output=args.output)
        pipeline = Pipeline(
            args.source,
            # an import path, a built-in and a callable, in this order
            processor=["custom_processor:pixelate", "motion", meter],
            config=config,
            logger=log,
        )
        report = pipeline.run()
    except (SourceError, OutputError, PipelineError, ValueError) as exc:
        # A source that does not open, an unwritable output, a bad option or processor, a
        # processor that raised: one-line messages; a PipelineError carries the partial report.
        print(f"custom_processor: error: {exc}", file=sys.stderr)
        return 1
    finally:
        log.stop()
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
