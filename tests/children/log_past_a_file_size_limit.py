"""Log 500 records into LOG_DIR while the process may write at most 10 kB to a file (a full
disk), then 100 more once the limit is lifted; print as JSON the logger's ``stats`` and the
``lines`` that reached the log files.

    log_past_a_file_size_limit.py LOG_DIR
"""

from __future__ import annotations

import json
import resource
import signal
import sys
from pathlib import Path

from framepipe.logging import configure

if __name__ == "__main__":
    log_dir = sys.argv[1]
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
    log = configure(log_dir=log_dir, max_bytes=0)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (10_000, hard))  # the disk is "full" at 10 kB
    for i in range(500):
        log.info("record %05d %s", i, "y" * 40)
    log.flush(timeout=30)
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))  # space is back
    for i in range(500, 600):
        log.info("record %05d %s", i, "y" * 40)
    log.flush(timeout=30)
    files = sorted(Path(log_dir).iterdir())
    lines = [line for file in files for line in file.read_text().splitlines()]
    print(json.dumps({"stats": log.get_stats(), "lines": lines}))
