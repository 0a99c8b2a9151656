"""Silence OpenCV's and FFmpeg's own messages for the command line, where errors are one line.

Only the subcommands call this: it changes process-wide native state, which a library must leave
to its application.
"""

from __future__ import annotations

import os

__all__ = ["quiet_native_logging"]


def quiet_native_logging() -> None:
    """Keep OpenCV's and FFmpeg's own messages off stderr: errors are reported in one line.

    Must run before the first capture opens: FFmpeg's log level is read once per process.
    """
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET
    os.environ.setdefault("OPENCV_LOG_LEVEL", "SILENT")
    import cv2

    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
