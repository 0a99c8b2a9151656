"""Tests for framepipe.pipeline.processors: the built-in frame processors."""

from __future__ import annotations

import importlib
import os
import pickle
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from framepipe.pipeline.processors import (
    PROCESSOR_NAMES,
    CannyEdges,
    GaussianBlur,
    MotionDetector,
    check_processor,
    get_processor,
    grayscale,
    identity,
    resolve_processor,
    split_output,
)
from framepipe.typing import Frame
from helpers import child_command

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
            frame = textured_frame(index)
            out, _ = split_output(processor(frame), frame)
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


class TestSplitOutput:
    """What a processor returned, as (frame, results)."""

    @pytest.mark.parametrize(
        ("output", "expected_frame", "expected_results"),
        [
            (None, "input", None),  # None: the frame unchanged, nothing found
            ("other", "other", None),  # a frame alone
            (("other", [1]), "other", [1]),  # a frame and its results
            ((None, {"n": 2}), "input", {"n": 2}),  # the frame unchanged, with results
            (("other", None), "other", None),  # results None: nothing found
        ],
    )
    def test_a_frame_alone_or_a_pair(
        self, output: object, expected_frame: str, expected_results: object
    ) -> None:
        frames = {"input": np.zeros((2, 2), np.uint8), "other": np.ones((2, 2), np.uint8)}
        if isinstance(output, tuple):
            output = (frames.get(output[0]) if output[0] else None, output[1])
        elif isinstance(output, str):
            output = frames[output]
        frame, results = split_output(output, frames["input"])
        assert frame is frames[expected_frame]
        assert results == expected_results

    def test_a_chain_keys_results_by_the_steps_that_found_something(self) -> None:
        def count(frame: Frame) -> tuple[Frame, int]:
            return frame + 1, int(frame[0, 0])

        def quiet(frame: Frame) -> Frame:
            return frame

        def found_nothing(frame: Frame) -> tuple[Frame, None]:
            return frame, None

        chain, name = resolve_processor([count, quiet, found_nothing])
        frame, results = split_output(chain(np.zeros((2, 2), np.uint8)), np.zeros(1))
        assert name == "count+quiet+found_nothing"
        assert frame[0, 0] == 1
        assert results == {"count": 0}
        # A chain in which no step found anything returns the frame alone.
        plain, _ = resolve_processor([quiet, found_nothing])
        assert isinstance(plain(np.zeros((2, 2), np.uint8)), np.ndarray)

    def test_motion_is_marked_unsafe_to_run_on_frames_in_parallel(self) -> None:
        assert MotionDetector.parallel_safe is False


class TestMotionDetector:
    def test_static_scene_gets_no_boxes_and_is_returned_unchanged(self) -> None:
        """Nothing moves, so nothing is boxed, including the seeding first frame, and the frame
        comes back alone, without results."""
        detector = MotionDetector(detect_width=160)
        scene = textured_frame()
        for _ in range(30):
            out = detector(scene.copy())
            assert isinstance(out, np.ndarray)
            assert detector.last_boxes == []
            np.testing.assert_array_equal(out, scene)

    def test_moving_square_is_boxed_where_it_is(self) -> None:
        """A square sliding right gets a box that covers it, drawn in the box colour."""
        detector = MotionDetector(detect_width=160, color=(0, 255, 0))
        size = 24
        top = 240 // 2 - size // 2
        for x in range(10, 200, 6):
            frame = square_scene(x, size)
            out, regions = split_output(detector(frame), frame)
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
        # The same box comes back as the frame's results.
        assert regions == [{"x": bx, "y": by, "w": bw, "h": bh, "area": bw * bh}]

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
            gray = cv2.cvtColor(square_scene(x), cv2.COLOR_BGR2GRAY)
            out, _ = split_output(detector(gray), gray)
        assert out.ndim == 2
        bx, by, bw, _ = detector.last_boxes[0]
        assert out[by, bx + bw // 2] == 255


# A module of user processors, written to disk and imported for real by its import path.
PLUGIN = """
    import numpy as np

    built = 0  # how many Counter instances exist

    def invert(frame):
        return 255 - frame

    class Counter:
        \"\"\"A stateful processor: writes how many frames it has seen into the pixels.\"\"\"

        def __init__(self):
            global built
            built += 1
            self.seen = 0

        def __call__(self, frame):
            self.seen += 1
            return np.full_like(frame, self.seen)

    class Broken:
        def __init__(self):
            raise RuntimeError("no model file")

    class NotAProcessor:
        pass

    THRESHOLD = 128
"""


def with_path(directory: Path) -> dict[str, str]:
    """This process's environment with ``directory`` first on a child's import path."""
    path = [str(directory), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(path)}


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The name of a fresh, importable module holding PLUGIN (unique, so never cached)."""
    name = f"fp_plugin_{uuid.uuid4().hex[:12]}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(PLUGIN))
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    yield name
    sys.modules.pop(name, None)


class TestResolveProcessor:
    def test_none_is_the_identity(self) -> None:
        """No processor passes frames through and is reported as 'none'."""
        fn, name = resolve_processor(None)
        frame = np.zeros((2, 2, 3), np.uint8)
        assert fn(frame) is frame
        assert name == "none"

    def test_a_step_returning_none_leaves_the_frame_unchanged(self) -> None:
        """In-place processors may return None; the chain continues with the same frame."""

        def in_place(frame: Frame) -> None:
            frame += 1

        fn, _ = resolve_processor([in_place, in_place])
        frame = np.zeros((2, 2), np.uint8)
        result = fn(frame)
        assert result is not None
        assert int(result[0, 0]) == 2

    def test_a_one_item_list_is_that_item_with_its_own_name(self) -> None:
        """``--processor edges`` arrives as ["edges"]: named "edges", no chain around it."""
        fn, name = resolve_processor(["edges"])
        assert name == "edges"
        assert isinstance(fn, CannyEdges)

    def test_an_import_path_to_a_function_uses_that_function(self, plugin: str) -> None:
        """ "module:function" imports the module and runs the function as it is."""
        fn, name = resolve_processor(f"{plugin}:invert")
        assert fn is sys.modules[plugin].invert
        assert name == f"{plugin}:invert"
        assert int(fn(np.zeros((2, 2), np.uint8))[0, 0]) == 255

    def test_an_import_path_to_a_class_builds_one_instance_per_resolution(
        self, plugin: str
    ) -> None:
        """ "module:Class" is instantiated once, so its state lasts the whole run and two
        pipelines never share it."""
        first, _ = resolve_processor(f"{plugin}:Counter")
        second, _ = resolve_processor(f"{plugin}:Counter")
        frame = np.zeros((2, 2), np.uint8)
        assert [int(first(frame)[0, 0]) for _ in range(3)] == [1, 2, 3]
        assert int(second(frame)[0, 0]) == 1
        assert sys.modules[plugin].built == 2

    def test_built_ins_import_paths_and_callables_chain_in_order(self, plugin: str) -> None:
        """A list mixes every form, runs left to right, and joins the names with '+'."""

        def halve(frame: Frame) -> Frame:
            return frame // 2

        fn, name = resolve_processor(["gray", f"{plugin}:invert", halve])
        assert name == f"gray+{plugin}:invert+halve"
        out = fn(np.zeros((4, 4, 3), np.uint8))
        assert out.shape == (4, 4)
        assert int(out[0, 0]) == 127  # (255 - 0) // 2

    @pytest.mark.parametrize(
        ("spec", "message"),
        [
            # the module does not import
            ("fp_no_such_module_xyz:fn", r"^processor 'fp_no_such_module_xyz:fn': cannot "
             r"import module 'fp_no_such_module_xyz' \(ModuleNotFoundError: No module named"),
            # the module imports, the attribute is not there
            ("{plugin}:sharpen", r"^processor '{plugin}:sharpen': module '{plugin}' has no "
             r"attribute 'sharpen'$"),
            # there, but not something to call
            ("{plugin}:THRESHOLD", r"^processor '{plugin}:THRESHOLD': {plugin}.THRESHOLD must be "
             r"a function or a class, but got int$"),
            # a class whose instances cannot process frames
            ("{plugin}:NotAProcessor", r"a NotAProcessor must be callable \(define __call__\)"),
            # a class that fails to build
            ("{plugin}:Broken", r"Broken\(\) failed: RuntimeError: no model file$"),
            # half an import path
            ("{plugin}:", r"must be 'package.module:name', but got"),
            (":invert", r"must be 'package.module:name', but got"),
            # not a built-in, not an import path
            ("sharpen", r"^unknown processor 'sharpen': expected one of none, gray, blur, edges, "
             r"motion, or an import path package.module:function$"),
            (42, r"^processor must be a callable, a built-in name, an import path or a list"),
            ([], r"^processor list must not be empty, but got \[\]$"),
            (["gray", 42], r"^processor must be a callable, a built-in name or an import path"),
        ],
    )  # fmt: skip
    def test_a_spec_that_cannot_be_a_processor_is_a_value_error_naming_what_is_wrong(
        self, plugin: str, spec: object, message: str
    ) -> None:
        """Each mistake is one ValueError naming the module and the attribute it looked for."""
        if isinstance(spec, str):
            spec = spec.format(plugin=plugin)
        with pytest.raises(ValueError, match=message.format(plugin=plugin)):
            resolve_processor(spec)  # type: ignore[arg-type]

    def test_check_finds_the_same_mistakes_without_building_anything(self, plugin: str) -> None:
        """check_processor imports and looks up, but instantiates no class."""
        check_processor(["edges", f"{plugin}:Counter", f"{plugin}:invert"])
        assert sys.modules[plugin].built == 0
        with pytest.raises(ValueError, match="has no attribute 'sharpen'"):
            check_processor(["edges", f"{plugin}:sharpen"])
        with pytest.raises(ValueError, match="unknown processor 'sharpen'"):
            check_processor("sharpen")

    def test_a_spec_rebuilds_the_same_processor_in_another_process(
        self, plugin: str, tmp_path: Path
    ) -> None:
        """The spec, pickled, is rebuilt by a fresh interpreter into the same chain."""
        spec = ["gray", f"{plugin}:invert"]
        child = subprocess.run(
            child_command("rebuild_processor"),
            input=pickle.dumps(spec),
            capture_output=True,
            timeout=60,
            cwd=tmp_path,
            env=with_path(tmp_path),  # where the plugin module lives, as in a worker there
            check=False,
        )
        assert child.returncode == 0, child.stderr.decode()
        assert child.stdout.decode().split() == [f"gray+{plugin}:invert", "245"]
