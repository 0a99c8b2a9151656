"""Use framepipe's non-blocking logger in a program that already uses ``logging``.

    python samples/logging_in_your_app.py [--log-dir logs]

One ``configure()`` call at start-up is all it takes: framepipe's own calls
(``log.info(...)``) and every plain ``logging.getLogger(...)`` record from your code and your
libraries go through the same bounded queue, and a writer thread does the file I/O. Nothing in
the modules that use plain ``logging`` has to change.
"""

from __future__ import annotations

import argparse
import logging
import threading

from framepipe.logging import configure, get_logger


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
    args = parser.parse_args(argv)

    # Your loggers' levels are yours (the root logger is at WARNING): let your INFO records through.
    logging.getLogger("myapp").setLevel(logging.INFO)
    # Once, at start-up: replaces nothing in your code, captures the stdlib records too.
    log = configure(log_dir=args.log_dir, level="INFO", capture_stdlib=True)
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
    stats = log.get_stats()
    print(
        f"log file: {stats['log_file']}\n"
        f"records accepted {stats['accepted']}, written {stats['written']}, "
        f"dropped {stats['dropped']}"
    )
    log.stop()  # optional: it also runs at exit, on SIGTERM and on Ctrl-C
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
