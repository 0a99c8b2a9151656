"""Built-in frame processors: plain callables ``frame -> frame``.

Every processor takes a uint8 frame (BGR, or single-channel when chained after ``gray``/``edges``)
and returns a uint8 frame of the same width and height. Stateful processors (``motion``) are
classes, so :func:`get_processor` hands out a fresh instance per call and two pipelines never
share a background model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

__all__ = [
    "PROCESSOR_NAMES",
    "CannyEdges",
    "Frame",
    "GaussianBlur",
    "MotionDetector",
    "Processor",
    "get_processor",
    "grayscale",
    "identity",
]

# Any dtype parameter: OpenCV's stubs type every returned image as an integer-or-float array.
Frame = npt.NDArray[Any]
Processor = Callable[[Frame], Frame]

PROCESSOR_NAMES: tuple[str, ...] = ("none", "gray", "blur", "edges", "motion")

Box = tuple[int, int, int, int]


def _to_gray(frame: Frame) -> Frame:
    if frame.ndim == 2:
        return frame
    gray: Frame = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    return gray


def identity(frame: Frame) -> Frame:
    """Return the frame unchanged (the ``none`` processor: measures the pipeline itself)."""
    return frame


def grayscale(frame: Frame) -> Frame:
    """Convert a BGR frame to a single-channel gray frame (the ``gray`` processor)."""
    return _to_gray(frame)


class GaussianBlur:
    """Gaussian blur with an odd square kernel (the ``blur`` processor)."""

    def __init__(self, ksize: int = 9) -> None:
        if isinstance(ksize, bool) or not isinstance(ksize, int) or ksize < 1 or ksize % 2 == 0:
            raise ValueError(f"ksize must be an odd positive integer, but got {ksize!r}")
        self.ksize = ksize

    def __call__(self, frame: Frame) -> Frame:
        blurred: Frame = cv2.GaussianBlur(frame, (self.ksize, self.ksize), 0)
        return blurred

    def __repr__(self) -> str:
        return f"GaussianBlur(ksize={self.ksize})"


class CannyEdges:
    """Canny edge map of the gray frame, single-channel 0/255 (the ``edges`` processor)."""

    def __init__(self, low: float = 50.0, high: float = 150.0) -> None:
        if not 0 <= low <= high:
            raise ValueError(
                f"thresholds must satisfy 0 <= low <= high, but got low={low!r}, high={high!r}"
            )
        self.low = low
        self.high = high

    def __call__(self, frame: Frame) -> Frame:
        edges: Frame = cv2.Canny(_to_gray(frame), self.low, self.high)
        return edges

    def __repr__(self) -> str:
        return f"CannyEdges(low={self.low}, high={self.high})"


class MotionDetector:
    """Background subtraction with boxes drawn around moving objects (the ``motion`` processor).

    Detection runs on a copy downscaled to ``detect_width`` pixels wide, which keeps the cost
    nearly independent of the input size; the boxes are scaled back and drawn on a copy of the
    full frame. The first frame only seeds the background model (MOG2 reports everything as
    foreground on it), so it never gets boxes. ``last_boxes`` holds the boxes of the latest
    frame as ``(x, y, w, h)`` in full-frame pixels.
    """

    def __init__(
        self,
        detect_width: int = 320,
        min_area: int = 40,
        history: int = 200,
        var_threshold: float = 25.0,
        color: tuple[int, int, int] = (0, 255, 0),
        thickness: int = 2,
    ) -> None:
        if detect_width < 16:
            raise ValueError(f"detect_width must be at least 16, but got {detect_width!r}")
        if min_area < 1:
            raise ValueError(f"min_area must be at least 1, but got {min_area!r}")
        if history < 1:
            raise ValueError(f"history must be at least 1, but got {history!r}")
        if thickness < 1:
            raise ValueError(f"thickness must be at least 1, but got {thickness!r}")
        self.detect_width = detect_width
        self.min_area = min_area
        self.color = color
        self.thickness = thickness
        self._subtractor: Any = cv2.createBackgroundSubtractorMOG2(
            history=history, varThreshold=var_threshold, detectShadows=False
        )
        self._kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
        self._seeded = False
        self.last_boxes: list[Box] = []

    def detect(self, frame: Frame) -> list[Box]:
        """Update the background model with ``frame``; return moving boxes in full-frame pixels."""
        height, width = frame.shape[:2]
        scale = min(1.0, self.detect_width / width)
        small = frame
        if scale < 1.0:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            small = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
        mask = self._subtractor.apply(small)
        if not self._seeded:
            self._seeded = True
            return []
        # Opening removes single-pixel noise; dilation joins the parts of one object.
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, self._kernel)
        mask = cv2.dilate(mask, self._kernel, iterations=2)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        boxes: list[Box] = []
        for contour in contours:
            x, y, w, h = cv2.boundingRect(contour)
            if w * h < self.min_area:
                continue
            x0, y0 = int(x / scale), int(y / scale)
            x1 = min(width, int(np.ceil((x + w) / scale)))
            y1 = min(height, int(np.ceil((y + h) / scale)))
            boxes.append((x0, y0, x1 - x0, y1 - y0))
        return boxes

    def __call__(self, frame: Frame) -> Frame:
        self.last_boxes = self.detect(frame)
        if not self.last_boxes:
            return frame
        out: Frame = frame.copy()
        color: tuple[int, ...] = self.color if out.ndim == 3 else (255,)
        for x, y, w, h in self.last_boxes:
            cv2.rectangle(out, (x, y), (x + w - 1, y + h - 1), color, self.thickness)
        return out

    def __repr__(self) -> str:
        return f"MotionDetector(detect_width={self.detect_width}, min_area={self.min_area})"


_FACTORIES: dict[str, Callable[[], Processor]] = {
    "none": lambda: identity,
    "gray": lambda: grayscale,
    "blur": GaussianBlur,
    "edges": CannyEdges,
    "motion": MotionDetector,
}


def get_processor(name: str) -> Processor:
    """Return a new instance of the built-in processor called ``name``."""
    factory = _FACTORIES.get(name)
    if factory is None:
        raise ValueError(
            f"unknown processor {name!r}: expected one of {', '.join(PROCESSOR_NAMES)}"
        )
    return factory()
