"""The ``--display`` window: frames shown with ``cv2.imshow``; q or Esc closes it.

OpenCV's Qt and GTK backends abort the whole process when there is no screen, so availability is
checked first, in a short-lived child process, and turned into a one-line error.
"""

from __future__ import annotations

import os
import subprocess
import sys

import cv2

from framepipe._closing import Closing
from framepipe.typing import Frame

__all__ = ["Display", "DisplayUnavailable", "check_display"]

_QUIT_KEYS = (ord("q"), ord("Q"), 27)  # 27 = Esc
_PROBE = "import cv2; cv2.namedWindow('framepipe'); cv2.waitKey(1); cv2.destroyAllWindows()"


class DisplayUnavailable(Exception):
    """No window can be opened here; ``str(error)`` is a one-line user-facing message."""


def check_display(timeout_s: float = 20.0) -> None:
    """Raise DisplayUnavailable unless OpenCV can open a window in this environment."""
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        raise DisplayUnavailable("--display needs a screen, but DISPLAY is not set")
    try:
        probe = subprocess.run(
            [sys.executable, "-c", _PROBE],
            capture_output=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise DisplayUnavailable("--display: opening a window timed out") from None
    if probe.returncode != 0:
        raise DisplayUnavailable(
            "--display: OpenCV cannot open a window here (no screen, or a headless OpenCV build)"
        )


class Display(Closing):
    """One window showing processed frames; ``show()`` returns False once the user quits.

    A context manager: leaving the ``with`` block closes the window.
    """

    def __init__(self, title: str = "framepipe") -> None:
        self.title = title
        self._open = False

    def show(self, frame: Frame) -> bool:
        cv2.imshow(self.title, frame)
        self._open = True
        key = cv2.waitKey(1) & 0xFF
        return key not in _QUIT_KEYS

    def close(self) -> None:
        """Close the window; idempotent."""
        if self._open:
            self._open = False
            try:
                cv2.destroyWindow(self.title)
                cv2.waitKey(1)  # lets the GUI loop actually remove the window
            except cv2.error:
                pass

