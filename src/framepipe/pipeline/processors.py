"""Frame processors: the built-ins, and turning a processor spec into one callable.

A processor is a plain callable ``frame -> frame`` (None: the frame unchanged), or
``frame -> (frame, results)`` when it also found something to report about the frame: results
are anything JSON can hold (numpy values included), None for nothing to report.
:func:`split_output` tells the two apart. A chain's results are an object keyed by the name of
each step that reported something for the frame. Every built-in
takes a uint8 frame (BGR, or single-channel when chained after ``gray``/``edges``) and returns a
uint8 frame of the same width and height. Stateful processors (``motion``) are classes, so
:func:`get_processor` hands out a fresh instance per call and two pipelines never share a
background model.

A spec names processors by value, so it can be sent to another process and rebuilt there: a
built-in name, an import path ``"package.module:function"`` or ``"package.module:Class"`` (the
class is instantiated once per :func:`resolve_processor` call), a callable, or a list of them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Any

import cv2
import numpy as np

from framepipe._text import one_line
from framepipe.typing import Frame, ProcessorFn, ProcessorSpec

__all__ = [
    "PROCESSOR_NAMES",
    "CannyEdges",
    "Frame",
    "GaussianBlur",
    "MotionDetector",
    "check_processor",
    "get_processor",
    "grayscale",
    "identity",
    "load_import_path",
    "resolve_processor",
    "split_output",
]

PROCESSOR_NAMES: tuple[str, ...] = ("none", "gray", "blur", "edges", "motion")

Box = tuple[int, int, int, int]


def split_output(output: object, frame: Frame) -> tuple[Frame, Any]:
    """A processor's return value as ``(frame, results)``: ``frame`` stands for None, and a
    plain frame has no results (None)."""
    if isinstance(output, tuple) and len(output) == 2:
        processed, results = output
        return (frame if processed is None else processed), results
    return (frame if output is None else output), None  # type: ignore[return-value]


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

    A frame with moving objects comes back with its regions as results,
    ``[{"x", "y", "w", "h", "area"}]`` in full-frame pixels; a frame without, as the frame alone.
    The background model makes each frame depend on the ones before: not safe to run on several
    frames in parallel.
    """

    parallel_safe = False

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

    def __call__(self, frame: Frame) -> Frame | tuple[Frame, list[dict[str, int]]]:
        self.last_boxes = self.detect(frame)
        if not self.last_boxes:
            return frame
        out: Frame = frame.copy()
        color: tuple[int, ...] = self.color if out.ndim == 3 else (255,)
        for x, y, w, h in self.last_boxes:
            cv2.rectangle(out, (x, y), (x + w - 1, y + h - 1), color, self.thickness)
        regions = [
            {"x": x, "y": y, "w": w, "h": h, "area": w * h} for x, y, w, h in self.last_boxes
        ]
        return out, regions

    def __repr__(self) -> str:
        return f"MotionDetector(detect_width={self.detect_width}, min_area={self.min_area})"


_FACTORIES: dict[str, Callable[[], ProcessorFn]] = {
    "none": lambda: identity,
    "gray": lambda: grayscale,
    "blur": GaussianBlur,
    "edges": CannyEdges,
    "motion": MotionDetector,
}


def get_processor(name: str) -> ProcessorFn:
    """Return a new instance of the built-in processor called ``name``."""
    factory = _FACTORIES.get(name)
    if factory is None:
        raise ValueError(
            f"unknown processor {name!r}: expected one of {', '.join(PROCESSOR_NAMES)}"
        )
    return factory()


def resolve_processor(spec: ProcessorSpec) -> tuple[ProcessorFn, str]:
    """Turn a processor spec into one callable and its display name.

    ``None`` passes frames through (``"none"``); a list runs its steps in order and is named
    ``"a+b"``. ValueError names what is wrong: an unknown built-in, a module that does not
    import, a missing attribute, something that is not callable, a class that fails to build.
    """
    if spec is None:
        return identity, "none"
    if isinstance(spec, str) or callable(spec):
        return _resolve_one(spec)
    if isinstance(spec, Sequence):
        if not spec:
            raise ValueError("processor list must not be empty, but got []")
        steps = [_resolve_one(item) for item in spec]
        if len(steps) == 1:
            return steps[0]
        named = tuple(steps)

        def chain(frame: Frame) -> Frame | tuple[Frame, dict[str, Any]]:
            found: dict[str, Any] = {}
            for fn, name in named:
                frame, results = split_output(fn(frame), frame)
                if results is not None:
                    found[name] = results
            return (frame, found) if found else frame

        return chain, "+".join(name for _, name in steps)
    raise ValueError(
        f"processor must be a callable, a built-in name, an import path or a list of them, "
        f"but got {spec!r}"
    )


def check_processor(spec: ProcessorSpec) -> None:
    """Raise ValueError as :func:`resolve_processor` would, without building any processor.

    Imports the modules import paths name, so a typo shows before a source is opened, but
    instantiates no class.
    """
    if spec is None:
        return
    items = spec if isinstance(spec, Sequence) and not isinstance(spec, str) else [spec]
    if not items:
        raise ValueError("processor list must not be empty, but got []")
    for item in items:
        if isinstance(item, str):
            _factory(item)  # found and callable; not called
        elif not callable(item):
            raise ValueError(_not_a_processor(item))


def _resolve_one(item: str | ProcessorFn) -> tuple[ProcessorFn, str]:
    if isinstance(item, str):
        return _factory(item)(), item
    if not callable(item):
        raise ValueError(_not_a_processor(item))
    name = getattr(item, "__name__", None) or type(item).__name__
    return item, str(name)


def _factory(item: str) -> Callable[[], ProcessorFn]:
    """What builds the processor a name or an import path stands for; ValueError if nothing."""
    if ":" not in item:
        factory = _FACTORIES.get(item)
        if factory is None:
            raise ValueError(_unknown(item))
        return factory
    target = load_import_path(item)
    if isinstance(target, type):
        return lambda: _instantiate(item, target)
    function: ProcessorFn = target
    return lambda: function


def load_import_path(path: str) -> Any:
    """The object an import path ``"package.module:name"`` (or ``:Class.attr``) names."""
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"processor import path must be 'package.module:name', but got {path!r}")
    try:
        target: Any = importlib.import_module(module_name)
    except Exception as exc:  # any error while importing: a typo, a SyntaxError, a missing dep
        raise ValueError(
            f"processor {path!r}: cannot import module {module_name!r} ({one_line(exc)})"
        ) from None
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ValueError(
                f"processor {path!r}: module {module_name!r} has no attribute {attribute!r}"
            ) from None
    if not callable(target):
        raise ValueError(
            f"processor {path!r}: {module_name}.{attribute} must be a function or a class, "
            f"but got {type(target).__name__}"
        )
    return target


def _instantiate(path: str, cls: type) -> ProcessorFn:
    """One instance of a processor class: its state lives as long as the pipeline."""
    try:
        instance = cls()
    except Exception as exc:
        raise ValueError(f"processor {path!r}: {cls.__name__}() failed: {one_line(exc)}") from None
    if not callable(instance):
        raise ValueError(f"processor {path!r}: a {cls.__name__} must be callable (define __call__)")
    processor: ProcessorFn = instance
    return processor


def _unknown(name: str) -> str:
    return (
        f"unknown processor {name!r}: expected one of {', '.join(PROCESSOR_NAMES)}, "
        "or an import path package.module:function"
    )


def _not_a_processor(item: object) -> str:
    return f"processor must be a callable, a built-in name or an import path, but got {item!r}"
