"""Tests for framepipe._camera: camera settings, their checks, and what a camera delivered."""

from __future__ import annotations

import math

import pytest

from framepipe._camera import (
    CameraReading,
    CameraSettings,
    check_camera_fps,
    check_fourcc,
    parse_camera_size,
)


class TestParsing:
    @pytest.mark.parametrize(
        ("text", "size"),
        [("1280x720", (1280, 720)), ("1x1", (1, 1)), ("16384x16384", (16384, 16384))],
    )
    def test_a_size_is_width_x_height(self, text: str, size: tuple[int, int]):
        assert parse_camera_size(text) == size

    @pytest.mark.parametrize(
        "text",
        [
            "1280",  # one side only
            "1280X720",  # the separator is a lower-case x
            "0x720",  # a side of nothing
            "16385x10",  # beyond any camera
            " 1280x720",  # spaces are not trimmed silently
            "1280x720x3",
            "9" * 400 + "x1",  # hundreds of digits: refused quickly, said briefly
        ],
    )
    def test_anything_else_is_a_value_error_saying_what_was_expected(self, text: str):
        with pytest.raises(ValueError, match=r"^must be WIDTHxHEIGHT") as caught:
            parse_camera_size(text)
        assert len(str(caught.value)) < 150

    @pytest.mark.parametrize("code", ["MJPG", "YUYV", "H264", "avc1"])
    def test_a_fourcc_is_four_printable_characters(self, code: str):
        assert check_fourcc(code) == code

    @pytest.mark.parametrize("code", ["MJP", "MJPEG", "", "MJ\x00G", "MJPé"])
    def test_other_codes_are_refused(self, code: str):
        with pytest.raises(ValueError, match=r"^must be four printable ASCII characters"):
            check_fourcc(code)

    @pytest.mark.parametrize("fps", [0, -1, 1000, math.nan, math.inf, True, "30"])
    def test_a_rate_must_be_a_number_above_0_and_below_1000(self, fps: object):
        with pytest.raises(ValueError, match=r"^must be a number of frames per second"):
            check_camera_fps(fps)


class TestCameraSettings:
    def test_checked_when_made(self):
        """Each setting is checked as the flags check it, the message naming the setting."""
        with pytest.raises(ValueError, match=r"^camera fps must be"):
            CameraSettings(fps=0)
        with pytest.raises(ValueError, match=r"^camera fourcc must be"):
            CameraSettings(fourcc="MJPEG")
        with pytest.raises(ValueError, match=r"^camera size must be"):
            CameraSettings(size=(1280, 720, 3))  # type: ignore[arg-type]
        with pytest.raises(ValueError, match=r"^must be WIDTHxHEIGHT"):
            CameraSettings(size=(0, 720))

    def test_as_plain_values(self):
        settings = CameraSettings((1280, 720), 30.0, "MJPG")
        assert settings.to_dict() == {"size": "1280x720", "fps": 30.0, "fourcc": "MJPG"}
        assert str(settings) == "size 1280x720, fps 30, fourcc MJPG"
        assert CameraSettings().is_empty and str(CameraSettings()) == "nothing"


class TestCameraReading:
    def test_a_camera_that_delivers_what_was_asked_honours_it(self):
        """A rate within 1 % of the one asked for honours it (drivers say 29.97 for 30)."""
        asked = CameraSettings((1280, 720), 30.0, "MJPG")
        reading = CameraReading(asked, CameraSettings((1280, 720), 29.97, "MJPG"))
        assert reading.not_honoured() == ()

    def test_what_it_does_not_deliver_is_named(self):
        reading = CameraReading(
            CameraSettings((1280, 720), 60.0, "MJPG"), CameraSettings((640, 480), 30.0, None)
        )
        assert reading.not_honoured() == ("size", "fps", "fourcc")
        assert reading.describe_not_honoured() == (
            "size 1280x720 (delivers 640x480), fps 60 (delivers 30), fourcc MJPG (delivers unknown)"
        )
        assert reading.to_dict()["not_honoured"] == ["size", "fps", "fourcc"]

    def test_what_was_not_asked_for_is_not_judged(self):
        reading = CameraReading(CameraSettings(fps=30.0), CameraSettings((640, 480), 30.0, "YUYV"))
        assert reading.not_honoured() == ()
