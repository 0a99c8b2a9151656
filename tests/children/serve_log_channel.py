"""Configure a logger writing to LOG_DIR, print its channel's address, then wait a minute for
the test to kill us (a parent whose children are left behind).

    serve_log_channel.py LOG_DIR
"""

from __future__ import annotations

import sys
import threading

from framepipe.logging import address, configure

if __name__ == "__main__":
    configure(log_dir=sys.argv[1], capture_stdlib=False)
    print(address(), flush=True)
    threading.Event().wait(60)
