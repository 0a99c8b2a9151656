"""Tests for framepipe.pipeline.processors: the built-in frame processors."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import pytest

from framepipe.pipeline.processors import (
    PROCESSOR_NAMES,
    CannyEdges,
    Frame,
    GaussianBlur,
    MotionDetector,
    get_processor,
    grayscale,
    identity,
)

HEIGHT, WIDTH = 120, 200


def textured_frame(seed: int = 0) -> Frame:
    """A BGR frame with gradients, lines and a disc: enough structure for every processor."""
    rng = np.random.default_rng(seed)
    frame = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    frame[..., 0] = np.linspace(0, 255, WIDTH, dtype=np.uint8)
    frame[..., 1] = np.linspace(0, 255, HEIGHT, dtype=np.uint8)[:, None]
    frame[..., 2] = rng.integers(0, 40, (HEIGHT, WIDTH), dtype=np.uint8)
    cv2.line(frame, (10, 10), (190, 100), (255, 255, 255), 2)
    cv2.circle(frame, (60, 70), 25, (0, 0, 255), -1)
    return frame


def square_scene(x: int, size: int = 24, width: int = 320, height: int = 240) -> Frame:
    """A flat gray scene with a white square whose left edge is at ``x``."""
    frame = np.full((height, width, 3), 90, np.uint8)
    top = height // 2 - size // 2
    frame[top : top + size, x : x + size] = 255
    return frame


class TestGetProcessor:
    @pytest.mark.parametrize("name", PROCESSOR_NAMES)
    def test_every_builtin_returns_uint8_frames_of_the_input_size(self, name: str) -> None:
        """Each built-in keeps width, height and dtype (gray/edges may drop the channels)."""
        processor = get_processor(name)
        for index in range(3):
            out = processor(textured_frame(index))
            assert out.dtype == np.uint8
            assert out.shape[:2] == (HEIGHT, WIDTH)
            assert out.ndim == 2 or out.shape[2] == 3

    def test_unknown_name_raises_value_error_listing_the_choices(self) -> None:
        """A typo gets an error naming the bad value and every valid one."""
        with pytest.raises(ValueError, match=r"^unknown processor 'x'") as info:
            get_processor("x")
        assert str(info.value) == (
            "unknown processor 'x': expected one of none, gray, blur, edges, motion"
        )

    def test_names_are_the_documented_five(self) -> None:
        """The CLI's --processor choices come from this tuple, in this order."""
        assert PROCESSOR_NAMES == ("none", "gray", "blur", "edges", "motion")

    def test_each_motion_call_returns_a_detector_with_its_own_background_model(self) -> None:
        """Two pipelines must not share motion state, so each call builds a new detector."""
        first, second = get_processor("motion"), get_processor("motion")
        assert isinstance(first, MotionDetector)
        assert isinstance(second, MotionDetector)
        assert first is not second
        for x in range(0, 200, 10):
            first(square_scene(x))
        assert first.last_boxes
        # The second detector has seen nothing: its first frame only seeds the model.
        second(square_scene(200))
        assert second.last_boxes == []


class TestSimpleProcessors:
    def test_none_returns_the_very_same_frame(self) -> None:
        """The ``none`` processor costs nothing: no copy, no change."""
        frame = textured_frame()
        assert get_processor("none")(frame) is frame
        assert identity(frame) is frame

    def test_gray_matches_opencv_bgr_to_gray(self) -> None:
        """``gray`` is OpenCV's BGR-to-gray conversion, single-channel."""
        frame = textured_frame()
        out = get_processor("gray")(frame)
        np.testing.assert_array_equal(out, cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
        assert out.shape == (HEIGHT, WIDTH)

    def test_gray_passes_an_already_gray_frame_through(self) -> None:
        """Chaining ``gray`` twice does not fail on a single-channel frame."""
        gray = cv2.cvtColor(textured_frame(), cv2.COLOR_BGR2GRAY)
        np.testing.assert_array_equal(grayscale(gray), gray)

    def test_blur_matches_a_9x9_gaussian_and_changes_the_frame(self) -> None:
        """``blur`` is a 9x9 Gaussian blur: same result as cv2, and visibly smoother."""
        frame = textured_frame()
        out = get_processor("blur")(frame)
        np.testing.assert_array_equal(out, cv2.GaussianBlur(frame, (9, 9), 0))
        assert out.shape == frame.shape
        assert (
            np.abs(np.diff(out.astype(int), axis=1)).sum()
            < np.abs(np.diff(frame.astype(int), axis=1)).sum()
        )

    def test_edges_match_canny_on_the_gray_frame(self) -> None:
        """``edges`` is Canny(50, 150) on the gray frame: a binary map with some edges."""
        frame = textured_frame()
        out = get_processor("edges")(frame)
        expected = cv2.Canny(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), 50, 150)
        np.testing.assert_array_equal(out, expected)
        assert set(np.unique(out)) == {0, 255}

    def test_edges_accept_a_gray_frame(self) -> None:
        """``edges`` after ``gray`` works: the processors chain."""
        frame = textured_frame()
        chained = CannyEdges()(grayscale(frame))
        np.testing.assert_array_equal(chained, CannyEdges()(frame))

    @pytest.mark.parametrize(
        ("factory", "message"),
        [
            (lambda: GaussianBlur(4), "ksize must be an odd positive integer, but got 4"),
            (lambda: GaussianBlur(0), "ksize must be an odd positive integer, but got 0"),
            (lambda: CannyEdges(200, 100), "thresholds must satisfy 0 <= low <= high"),
            (lambda: MotionDetector(detect_width=8), "detect_width must be at least 16"),
            (lambda: MotionDetector(min_area=0), "min_area must be at least 1, but got 0"),
        ],
    )
    def test_bad_parameters_raise_value_error_with_expected_and_actual(
        self, factory: Callable[[], object], message: str
    ) -> None:
        """Constructors validate their arguments and say what they expected."""
        with pytest.raises(ValueError, match=message):
            factory()


class TestMotionDetector:
    def test_static_scene_gets_no_boxes_and_is_returned_unchanged(self) -> None:
        """Nothing moves, so nothing is boxed, including the seeding first frame."""
        detector = MotionDetector(detect_width=160)
        scene = textured_frame()
        for _ in range(30):
            out = detector(scene.copy())
            assert detector.last_boxes == []
            np.testing.assert_array_equal(out, scene)

    def test_moving_square_is_boxed_where_it_is(self) -> None:
        """A square sliding right gets a box that covers it, drawn in the box colour."""
        detector = MotionDetector(detect_width=160, color=(0, 255, 0))
        size = 24
        top = 240 // 2 - size // 2
        for x in range(10, 200, 6):
            frame = square_scene(x, size)
            out = detector(frame)
        assert len(detector.last_boxes) == 1
        bx, by, bw, bh = detector.last_boxes[0]
        # The box covers the square's current position (boxes are scaled up from half size).
        assert bx <= x
        assert by <= top
        assert bx + bw >= x + size
        assert by + bh >= top + size
        # ... without swallowing the whole frame.
        assert bw < 120
        assert bh < 80
        # The rectangle is drawn on the output, and only there: the input is untouched.
        assert tuple(out[by, bx + bw // 2]) == (0, 255, 0)
        assert tuple(frame[by, bx + bw // 2]) == (90, 90, 90)
        assert not np.any(np.all(frame == (0, 255, 0), axis=2))

    def test_two_moving_objects_get_two_boxes(self) -> None:
        """Separate movers are boxed separately."""
        detector = MotionDetector(detect_width=320)
        for step in range(20):
            frame = np.full((240, 320, 3), 90, np.uint8)
            frame[20:40, 10 + 5 * step : 30 + 5 * step] = 255
            frame[190:210, 290 - 5 * step : 310 - 5 * step] = 0
            detector(frame)
        boxes = sorted(detector.last_boxes, key=lambda box: box[1])
        assert len(boxes) == 2
        assert boxes[0][1] < 60 <= 150 < boxes[1][1]

    def test_boxes_are_drawn_white_on_a_gray_frame(self) -> None:
        """On a single-channel frame the boxes are drawn at 255 instead of the colour."""
        detector = MotionDetector(detect_width=160)
        for x in range(10, 120, 6):
            out = detector(cv2.cvtColor(square_scene(x), cv2.COLOR_BGR2GRAY))
        assert out.ndim == 2
        bx, by, bw, _ = detector.last_boxes[0]
        assert out[by, bx + bw // 2] == 255
