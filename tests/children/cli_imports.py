"""Run ``framepipe.cli.main(ARGS)`` in a fresh interpreter, then print one JSON line: its exit
code and which heavy modules (OpenCV, numpy) it loaded.

    cli_imports.py ARG...
"""

from __future__ import annotations

import json
import sys

from framepipe.cli import main

HEAVY = ("cv2", "numpy")

if __name__ == "__main__":
    rc = main(sys.argv[1:])
    print(json.dumps({"rc": rc, "loaded": [name for name in HEAVY if name in sys.modules]}))
