"""Run ``check_display()`` and print ``available`` or ``unavailable: <the reason>``.

A child of its own because OpenCV's GUI backends abort the whole process when they cannot reach
a screen, which is exactly what the check must prevent.
"""

from __future__ import annotations

from framepipe.pipeline.display import DisplayUnavailable, check_display

if __name__ == "__main__":
    try:
        check_display()
    except DisplayUnavailable as exc:
        print("unavailable:", exc)
    else:
        print("available")
