"""Run ``framepipe.cli.main(ARGS)``, then say on stderr what descriptor 1 is: the path it is
open on, or ``closed``; and the exit code.

    descriptor_one_after_main.py ARG...
"""

from __future__ import annotations

import os
import sys

from framepipe.cli import main

if __name__ == "__main__":
    rc = main(sys.argv[1:])
    try:
        target = os.readlink("/proc/self/fd/1")
    except OSError:
        target = "closed"
    print(f"fd1={target} rc={rc}", file=sys.stderr)
