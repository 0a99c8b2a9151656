"""Import the logging types from ``framepipe.typing`` in a fresh interpreter and print, as
JSON, whether that loaded numpy."""

from __future__ import annotations

import json
import sys

from framepipe.typing import LogMode, LogStats, Overflow  # noqa: F401

if __name__ == "__main__":
    print(json.dumps("numpy" in sys.modules))
