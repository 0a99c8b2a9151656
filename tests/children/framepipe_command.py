"""``framepipe ARGS`` as its console script runs it (``main()`` with the process's own command
line), telling the parent the moment the command begins: one byte on the descriptor given as the
first argument, just before ``main()`` is called. Signals sent at offsets from that byte cover the
command's whole life, its imports included.

Until ``main()`` takes them over, the stop signals are ignored here: one that lands between the
byte and ``main()`` (this program's moment, not the command's) is as if sent before it began.
"""

import os
import signal
import sys

from framepipe.cli import main

if __name__ == "__main__":  # a worker started with spawn imports this module again
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)
    ready = int(sys.argv.pop(1))
    os.write(ready, b"!")
    os.close(ready)
    raise SystemExit(main())
