"""JpegCache: one encoding of the latest frame shared by every client, a few times a second."""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np
import pytest

from framepipe.monitor.jpeg import MIN_INTERVAL_S, JpegCache, PreviewError
from monitor_helpers import request, watched_run


def frame(value: int, shape: tuple[int, ...] = (48, 64, 3), dtype: type = np.uint8) -> np.ndarray:
    return np.full(shape, value, dtype=dtype)


def decode(jpeg: bytes | None) -> np.ndarray:
    assert jpeg is not None
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_UNCHANGED)
    assert image is not None
    return image


class TestJpegCache:
    def test_new_frames_within_the_interval_get_the_cached_encoding(self) -> None:
        """100 requests for 100 different frames in one interval cost one encode."""
        now = [0.0]
        cache = JpegCache(min_interval_s=0.25, clock=lambda: now[0])
        first = cache.get(frame(0))
        for i in range(1, 100):
            assert cache.get(frame(i)) is first
        assert cache.encodes == 1
        now[0] = 0.25
        assert cache.get(frame(200)) is not first
        assert cache.encodes == 2

    def test_the_same_frame_is_never_encoded_twice(self) -> None:
        """A paused stream costs nothing however long clients keep asking."""
        now = [0.0]
        cache = JpegCache(clock=lambda: now[0])
        still = frame(7)
        for step in range(10):
            now[0] = step * 10.0
            cache.get(still)
        assert cache.encodes == 1

    def test_nothing_before_the_first_frame(self) -> None:
        """No frame, no JPEG."""
        assert JpegCache().get(None) is None

    @pytest.mark.parametrize(
        ("image", "shape"),
        [
            (frame(90, (48, 64)), (48, 64)),  # gray, as the edges processor returns
            (frame(90), (48, 64, 3)),  # BGR
            (np.full((48, 64), 0.5, np.float32), (48, 64)),  # float output of a custom processor
        ],
    )
    def test_gray_color_and_float_frames_encode(
        self, image: np.ndarray, shape: tuple[int, ...]
    ) -> None:
        """Whatever a processor returns is shown: other depths are scaled to 8 bits."""
        assert decode(JpegCache().get(image)).shape == shape

    @pytest.mark.parametrize(
        ("output", "reason"),
        [
            (np.zeros((48, 64, 2), np.float32), r"shape \(48, 64, 2\): an image has 1, 3 or 4"),
            (np.zeros((0, 0, 3), np.uint8), r"the frame is empty \(shape \(0, 0, 3\)\)"),
            (np.zeros((48, 64, 5), np.uint8), r"shape \(48, 64, 5\): an image has 1, 3 or 4"),
            ("not a frame", "the frame is a str, not an image array"),  # returned in its place
            (np.zeros((48, 64), np.complex64), "OpenCV cannot encode a complex64 frame"),
        ],
    )
    def test_what_is_no_image_raises_preview_error_saying_why(
        self, output: object, reason: str
    ) -> None:
        """A processor's output that cannot be a JPEG is a PreviewError, never OpenCV's own."""
        with pytest.raises(PreviewError, match=reason):
            JpegCache().get(output)  # type: ignore[arg-type]

    def test_a_frame_that_cannot_be_encoded_is_tried_once_and_the_next_good_one_shown(
        self,
    ) -> None:
        """The error is the cached outcome, for that frame and within the interval; the next
        frame that is an image is encoded as usual."""
        now = [0.0]
        cache = JpegCache(min_interval_s=0.25, clock=lambda: now[0])
        bad = frame(1, (48, 64, 5))
        for _ in range(3):
            with pytest.raises(PreviewError):
                cache.get(bad)
        with pytest.raises(PreviewError):
            cache.get(frame(2))  # within the interval: the last outcome
        now[0] = 0.25
        assert decode(cache.get(frame(3))).shape == (48, 64, 3)
        assert cache.encodes == 1

    @pytest.mark.parametrize("kwargs", [{"min_interval_s": -1.0}, {"quality": 0}, {"quality": 101}])
    def test_bad_settings_are_refused(self, kwargs: dict[str, float]) -> None:
        """Settings are checked when the cache is made."""
        with pytest.raises(ValueError, match="must be"):
            JpegCache(**kwargs)  # type: ignore[arg-type]


def test_many_clients_polling_frame_jpg_see_at_most_a_few_encodes_a_second() -> None:
    """Eight threads polling /frame.jpg for a second get at most ~4 distinct JPEGs a second."""
    with watched_run() as (_, server):
        bodies: set[bytes] = set()
        lock = threading.Lock()
        seconds = 1.0
        start = time.monotonic()

        def poll() -> None:
            while time.monotonic() - start < seconds:
                body = request(server, "/frame.jpg").body
                with lock:
                    bodies.add(body)

        threads = [threading.Thread(target=poll) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        elapsed = time.monotonic() - start
    # The 30 FPS source changes every frame: without the cache nearly every body would differ.
    assert 1 <= len(bodies) <= elapsed / MIN_INTERVAL_S + 2
