"""Print ``ready`` once running, then wait a minute for the test to kill us: a process of our
own that a test can measure (it has its own pid and memory)."""

from __future__ import annotations

import time

if __name__ == "__main__":
    print("ready", flush=True)
    time.sleep(60)
