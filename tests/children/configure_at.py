"""Wait until the clock reads START_AT (seconds since the epoch), then configure a logger in
LOG_DIR that rotates every 4,000 bytes, log 300 records naming this process, and print the log
file it started with.

    configure_at.py LOG_DIR START_AT
"""

from __future__ import annotations

import os
import sys
import time

from framepipe.logging import configure

if __name__ == "__main__":
    log_dir, start_at = sys.argv[1], float(sys.argv[2])
    time.sleep(max(0.0, start_at - time.time()))
    log = configure(log_dir=log_dir, max_bytes=4000, backup_count=100)
    for i in range(300):
        log.info("pid %d record %d", os.getpid(), i)
    assert log.flush(10)
    print(log.get_stats()["log_file"])
