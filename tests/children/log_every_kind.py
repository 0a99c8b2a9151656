"""Connect to the parent's log channel at ADDRESS as stream ``kinds`` and log one record of each
kind a child must make portable; print ``accepted written errors`` from the logger's stats.

    log_every_kind.py ADDRESS

One record (an argument whose ``__str__`` raises) cannot be rendered: it is lost here, in the
child, and reported on this process's stderr.
"""

from __future__ import annotations

import logging
import sys

from framepipe.logging import connect


class Shown:
    """An argument of the program's own type: rendered in the child, which has the object."""

    def __str__(self) -> str:
        return "shown-in-child"


class BadStr:
    """An argument whose __str__ raises: its record is lost alone, in the child."""

    def __str__(self) -> str:
        raise RuntimeError("str broke")


if __name__ == "__main__":
    log = connect(sys.argv[1], stream="kinds")
    log.info("user object %s", Shown())
    log.info("cannot be rendered %s", BadStr())
    log.info("mapping %(w)dx%(h)d", {"w": 640, "h": 480})
    log.warning("with extra", extra={"camera": Shown()})
    try:
        raise ValueError("bad frame 7")
    except ValueError:
        log.exception("processor failed")
    logging.getLogger("thirdparty").warning("stdlib record %s", "here")
    if not log.flush(timeout=30):
        raise SystemExit(3)
    stats = log.get_stats()
    print(stats["accepted"], stats["written"], stats["errors"])
