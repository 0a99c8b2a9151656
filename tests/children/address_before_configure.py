"""Ask for the log channel's ``address()`` in a fresh process, then again once a library has
logged through the implicit logger; print ``STEP MESSAGE`` for each refusal.

STEP is ``fresh`` or ``implicit``.
"""

from __future__ import annotations

import os

from framepipe.logging import address, get_logger

if __name__ == "__main__":
    for step in ("fresh", "implicit"):
        if step == "implicit":
            os.environ["FRAMEPIPE_LOG_DIR"] = ""  # the implicit logger writes to stderr only
            get_logger("lib").info("a library's first record")
        try:
            address()
        except RuntimeError as exc:
            print(step, exc)
