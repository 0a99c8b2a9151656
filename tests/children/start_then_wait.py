"""Start one paced stream of SOURCE in a worker process, print the worker's process id once it
has processed 3 frames, then wait a minute for the test to kill us.

    start_then_wait.py SOURCE
"""

from __future__ import annotations

import sys
import time

from framepipe import PipelineConfig
from framepipe.streams import start_streams

if __name__ == "__main__":
    handle = start_streams([sys.argv[1]], config=PipelineConfig(realtime=True))
    deadline = time.monotonic() + 30
    while handle.streams["synthetic"].snapshot().frames_processed < 3:
        if time.monotonic() > deadline:
            raise SystemExit("the stream processed no 3 frames in 30 s")
        time.sleep(0.05)
    print(handle.streams["synthetic"].pid, flush=True)
    time.sleep(60)
