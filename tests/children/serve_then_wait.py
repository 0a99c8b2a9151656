"""Start a stats server, print its process id, then wait a minute for the test to kill us."""

from __future__ import annotations

import time

from framepipe.monitor import serve

if __name__ == "__main__":
    server = serve(port=0)
    print(server.pid, flush=True)
    time.sleep(60)
