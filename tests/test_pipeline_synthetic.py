"""Tests for framepipe.pipeline.synthetic: the generated scene."""

from __future__ import annotations

import numpy as np
import pytest

from framepipe.pipeline.synthetic import SyntheticScene, render_frame

FPS_RANGE = "scene fps must be positive, from 0.01 to 1000"
LENGTH_RANGE = "scene length must be positive, at most 31536000 s"


class TestSyntheticScene:
    def test_parses_size_rate_and_length(self):
        """``synthetic:WxH@FPS:SECONDS`` sets every field; fractional rates are allowed."""
        scene = SyntheticScene.from_spec("synthetic:320x180@12.5:4")
        assert scene == SyntheticScene(width=320, height=180, fps=12.5, seconds=4.0)
        assert scene.frame_count == 50

    def test_prints_back_as_its_spec(self):
        """str(scene) is a spec that parses to the same scene (used as the source name)."""
        scene = SyntheticScene(640, 360, 24.0, 1.5)
        assert str(scene) == "synthetic:640x360@24:1.5"
        assert SyntheticScene.from_spec(str(scene)) == scene

    @pytest.mark.parametrize(
        "spec",
        [
            "synthetic:640x360",  # no rate or length
            "synthetic:640x360@30",  # no length
            "synthetic:ax360@30:1",  # width not a number
            "synthetic:640x360@30:1:2",  # trailing field
            "synthetics",  # not the keyword
        ],
    )
    def test_rejects_malformed_specs(self, spec: str):
        """Malformed specs raise ValueError quoting the expected form and the input."""
        with pytest.raises(ValueError, match=r"must be 'synthetic' or 'synthetic:WxH@FPS:SECONDS'"):
            SyntheticScene.from_spec(spec)

    @pytest.mark.parametrize(
        ("spec", "message"),
        [
            # a 400-digit rate or length once overflowed into a traceback
            ("synthetic:64x64@" + "9" * 400 + ":1", FPS_RANGE),
            ("synthetic:64x64@30:" + "9" * 400, LENGTH_RANGE),
            # a subnormal rate once made the budget infinite and the summary JSON non-standard
            ("synthetic:64x64@0." + "0" * 320 + "1:1", FPS_RANGE),
            ("synthetic:64x64@0:1", FPS_RANGE),
            ("synthetic:64x64@30:0", LENGTH_RANGE),
            ("synthetic:" + "9" * 400 + "x64@30:1", "scene size must be at most 7680x4320"),
        ],
        ids=["huge-fps", "huge-length", "subnormal-fps", "zero-fps", "zero-length", "huge-width"],
    )
    def test_rejects_rates_lengths_and_sizes_out_of_range(self, spec: str, message: str):
        """Absurd numbers are a ValueError saying the allowed range, never an overflow."""
        with pytest.raises(ValueError, match=message) as caught:
            SyntheticScene.from_spec(spec)
        assert "but got" in str(caught.value)
        assert len(str(caught.value)) < 200  # one readable line, not 400 digits

    def test_a_very_short_scene_still_has_one_frame(self):
        """A length shorter than one frame period rounds up to a single frame."""
        assert SyntheticScene(64, 64, 30.0, 0.01).frame_count == 1


class TestRenderFrame:
    def test_frame_has_the_scene_size_and_is_bgr_uint8(self):
        """Frames are height x width x 3 uint8, as a camera would deliver."""
        frame = render_frame(SyntheticScene(100, 50, 30.0, 1.0), 0)
        assert frame.shape == (50, 100, 3)
        assert frame.dtype == np.uint8

    def test_the_frame_index_is_drawn_in(self):
        """Two frames at the same scene time but different indices differ only where text is."""
        slow = SyntheticScene(200, 120, 1.0, 100.0)
        # At 1 FPS the shapes barely move between frames 0 and 1 but the drawn index changes.
        top_left = (slice(0, 40), slice(0, 120))
        a, b = render_frame(slow, 0), render_frame(slow, 1)
        assert not np.array_equal(a[top_left], b[top_left])

    def test_rejects_a_negative_index(self):
        """Frame indices start at zero."""
        with pytest.raises(ValueError, match="frame index must be >= 0, but got -1"):
            render_frame(SyntheticScene(), -1)
