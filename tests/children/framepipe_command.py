"""``framepipe ARGS`` as its console script runs it (``main()`` with the process's own command
line), telling the parent the moment the command begins: one byte on the descriptor given as the
first argument, just before ``main()`` is called; the parent then waits until the command
catches the stop signals (its first instruction) and counts its offsets from there.
"""

import os
import sys

from framepipe.cli import main

if __name__ == "__main__":  # a worker started with spawn imports this module again
    ready = int(sys.argv.pop(1))
    os.write(ready, b"!")
    os.close(ready)
    raise SystemExit(main())
