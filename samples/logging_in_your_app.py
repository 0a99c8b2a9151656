"""Use framepipe's non-blocking logger in a program that already uses ``logging``.

    python samples/logging_in_your_app.py [--log-dir logs] [--stats-port 5000] [--keep-serving]

One ``configure()`` call at start-up is all it takes: framepipe's own calls
(``log.info(...)``) and every plain ``logging.getLogger(...)`` record from your code and your
libraries go through the same bounded queue, and a writer thread does the file I/O. Nothing in
the modules that use plain ``logging`` has to change.

``framepipe.monitor.serve(logger=log)`` watches it from outside: memory, CPU and the log queue at
http://127.0.0.1:5000/system-resources, Prometheus metrics at /metrics, a dashboard at /.
"""

from __future__ import annotations

import argparse
import json
import logging
import threading
import time
import urllib.request

from framepipe.logging import configure, get_logger
from framepipe.monitor import serve


def load_settings() -> dict[str, int]:
    """Existing code that logs the usual way: nothing framepipe-specific here."""
    logger = logging.getLogger("myapp.settings")
    settings = {"workers": 3, "jobs": 5}
    logger.info("settings loaded: %s", settings)
    return settings


def worker(number: int, jobs: int) -> None:
    """Threads log through named children of the framepipe logger; calls return at once."""
    log = get_logger(f"myapp.worker{number}")
    for job in range(jobs):
        log.debug("worker %d job %d started", number, job)  # below INFO: filtered for free
        log.info("worker %d finished job %d", number, job)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log-dir", default="logs")
    parser.add_argument("--stats-port", type=int, default=5000, help="0 picks a free port")
    parser.add_argument("--keep-serving", action="store_true", help="serve stats until Ctrl-C")
    args = parser.parse_args(argv)

    # Your loggers' levels are yours (the root logger is at WARNING): let your INFO records through.
    logging.getLogger("myapp").setLevel(logging.INFO)
    # Once, at start-up: replaces nothing in your code, captures the stdlib records too.
    log = configure(log_dir=args.log_dir, level="INFO", capture_stdlib=True)
    # The stats server on a background thread, loopback only; no pipeline, just the logger.
    stats = serve(port=args.stats_port, logger=log)
    print(f"stats: {stats.url}")
    log.info("app starting")

    settings = load_settings()
    threads = [
        threading.Thread(target=worker, args=(n, settings["jobs"]), name=f"worker-{n}")
        for n in range(settings["workers"])
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    cache: dict[str, int] = {}
    try:
        cache["missing"]  # a failure, to show how tracebacks are logged
    except KeyError:
        logging.getLogger("myapp.cache").exception("cache lookup failed")

    log.flush(timeout=5.0)  # wait until everything accepted so far is on disk
    counts = log.get_stats()
    print(
        f"log file: {counts['log_file']}\n"
        f"records accepted {counts['accepted']}, written {counts['written']}, "
        f"dropped {counts['dropped']}"
    )
    # What a monitoring tool sees: the same figures, over HTTP. The server's reading is
    # refreshed ten times a second (a busy machine may take longer), so ask until it has them.
    deadline = time.monotonic() + 10.0
    while True:
        with urllib.request.urlopen(stats.url + "system-resources", timeout=5) as reply:
            reading = json.load(reply)
        if reading["logging"]["written"] >= counts["written"] or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    print(f"GET /system-resources: {json.dumps(reading)}")
    if args.keep_serving:
        print("serving stats until Ctrl-C")
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
    stats.stop()
    log.stop()  # optional: it also runs at exit, on SIGTERM and on Ctrl-C
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
