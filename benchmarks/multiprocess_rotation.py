"""Several processes, one rotating log: the standard library's way against framepipe's channel.

    python benchmarks/multiprocess_rotation.py [--processes N] [--records R] [--max-bytes B]
                                               [--backups K]

The same scenario twice, in fresh directories: N spawned processes each log R numbered records
into one log file that rotates at B bytes and keeps K backups (by default enough that a single
writer never deletes a record: 400,000 lines of about 90 bytes fill 36 files of 1 MB).

- stdlib: each process has its own ``logging.handlers.RotatingFileHandler`` on the same path,
  which is what a program gets when every worker configures logging for itself. Each process
  decides on its own when the file is full and renames the files under the others. The handler
  is subclassed only to count, after each record, whether the file it wrote to was still the
  current one (``stale``: the record went into a backup, after a newer file had begun), and
  how many rollovers failed (``logging`` prints ``--- Logging error ---`` for each and the
  record is gone).
- framepipe: the parent calls ``configure()`` and ``address()``; each process calls
  ``connect(address)``; the parent's one writer writes, rotates, and writes only to the
  current file.

Then every line of every file is read back, oldest file first, and each record is classified by
(pid, number): ``lost`` (in no file), ``doubled`` (more than once), ``out of order`` (after a
record its own process logged later), and ``mangled`` lines (not one whole record); ``over
size`` counts files larger than B. The exit status is 1 when framepipe loses, doubles, reorders
or mangles any record.
"""

from __future__ import annotations

import argparse
import logging
import logging.handlers
import multiprocessing
import os
import re
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

# One line of either design: "... [stream pid #n] name: record n-1"
LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} INFO +\[\S+ (\d+) #(\d+)\] \S+: "
                  r"record (\d+)")
STDLIB_FORMAT = "%(asctime)s.%(msecs)03d %(levelname)-8s [%(processName)s %(process)d #%(n)d] " \
                "%(name)s: %(message)s"


class CountingHandler(logging.handlers.RotatingFileHandler):
    """The stdlib handler as it is, plus two counters read after the run."""

    stale = 0
    failed_rollovers = 0

    def emit(self, record: logging.LogRecord) -> None:
        super().emit(record)
        try:
            if self.stream is not None and (
                os.fstat(self.stream.fileno()).st_ino != os.stat(self.baseFilename).st_ino
            ):
                self.stale += 1
        except OSError:  # no current file at all: a rollover of another process is midway
            self.stale += 1

    def handleError(self, record: logging.LogRecord) -> None:
        self.failed_rollovers += 1
        super().handleError(record)


def stdlib_child(path: str, records: int, max_bytes: int, backups: int, out: Connection) -> None:
    handler = CountingHandler(path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8")
    handler.setFormatter(logging.Formatter(STDLIB_FORMAT, "%Y-%m-%d %H:%M:%S"))
    logger = logging.getLogger("bench")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    for i in range(records):
        logger.info("record %d", i, extra={"n": i + 1})
    handler.close()
    out.send((handler.stale, handler.failed_rollovers))


def framepipe_child(address: str, records: int) -> None:
    from framepipe.logging import connect

    log = connect(address)
    for i in range(records):
        log.info("record %d", i)


@dataclass
class Outcome:
    design: str
    seconds: float
    files: int
    over_size: int
    lines: int
    lost: int
    doubled: int
    out_of_order: int
    mangled: int
    stale: int | None = None
    failed_rollovers: int | None = None


def files_oldest_first(path: Path) -> list[Path]:
    backups = sorted(path.parent.glob(path.name + ".*"), key=lambda p: -int(p.suffix[1:]))
    return [*backups, path] if path.exists() else backups


def check(
    design: str, seconds: float, path: Path, processes: int, records: int, max_bytes: int
) -> Outcome:
    numbers: dict[int, list[int]] = defaultdict(list)
    lines = mangled = 0
    files = files_oldest_first(path)
    for file in files:
        for line in file.read_text(encoding="utf-8", errors="replace").splitlines():
            lines += 1
            match = LINE.fullmatch(line)
            if match is None or int(match[2]) != int(match[3]) + 1:
                mangled += 1
                continue
            numbers[int(match[1])].append(int(match[3]))
    lost = doubled = out_of_order = 0
    for seen in numbers.values():
        counts: dict[int, int] = defaultdict(int)
        for n in seen:
            counts[n] += 1
        lost += sum(1 for n in range(records) if n not in counts)
        doubled += sum(c - 1 for c in counts.values() if c > 1)
        highest = -1
        for n in seen:
            if n < highest:
                out_of_order += 1
            highest = max(highest, n)
    lost += records * (processes - len(numbers))  # a process none of whose records survived
    over_size = sum(1 for file in files if file.stat().st_size > max_bytes)
    return Outcome(design, seconds, len(files), over_size, lines, lost, doubled, out_of_order,
                   mangled)


def run_stdlib(
    directory: Path, processes: int, records: int, max_bytes: int, backups: int
) -> Outcome:
    path = directory / "app.log"
    context = multiprocessing.get_context("spawn")
    pipes = [context.Pipe(duplex=False) for _ in range(processes)]
    started = time.perf_counter()
    children = [
        context.Process(target=stdlib_child, args=(str(path), records, max_bytes, backups, send))
        for _, send in pipes
    ]
    for child in children:
        child.start()
    counts = [receive.recv() if receive.poll(600) else (0, 0) for receive, _ in pipes]
    for child in children:
        child.join(timeout=600)
    outcome = check("stdlib", time.perf_counter() - started, path, processes, records, max_bytes)
    outcome.stale = sum(stale for stale, _ in counts)
    outcome.failed_rollovers = sum(failed for _, failed in counts)
    return outcome


def run_framepipe(
    directory: Path, processes: int, records: int, max_bytes: int, backups: int
) -> Outcome:
    from framepipe.logging import address, configure

    log = configure(
        log_dir=directory, max_bytes=max_bytes, backup_count=backups, overflow="block",
        block_timeout=60.0, capture_stdlib=False,
    )
    context = multiprocessing.get_context("spawn")
    started = time.perf_counter()
    children = [
        context.Process(target=framepipe_child, args=(address(), records))
        for _ in range(processes)
    ]
    for child in children:
        child.start()
    for child in children:
        child.join(timeout=600)
    log.flush(60)
    seconds = time.perf_counter() - started
    path = Path(log.get_stats()["log_file"])
    log.stop()
    return check("framepipe", seconds, path, processes, records, max_bytes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--max-bytes", type=int, default=1_000_000)
    parser.add_argument("--backups", type=int, default=50)
    args = parser.parse_args(argv)
    print(f"{args.processes} processes x {args.records:,} records, rotating at "
          f"{args.max_bytes:,} bytes, {args.backups} backups; {os.cpu_count()} cores, Python "
          f"{sys.version.split()[0]}, load average {os.getloadavg()[0]:.2f}", flush=True)
    outcomes = []
    for design in ("stdlib", "framepipe"):
        directory = Path(tempfile.mkdtemp(prefix=f"rotation-{design}-"))
        try:
            run = run_stdlib if design == "stdlib" else run_framepipe
            outcomes.append(
                run(directory, args.processes, args.records, args.max_bytes, args.backups)
            )
        finally:
            shutil.rmtree(directory, ignore_errors=True)
    print(f"{'design':<10} {'seconds':>7} {'files':>5} {'over size':>9} {'lines':>8} "
          f"{'lost':>6} {'doubled':>7} {'out of order':>12} {'mangled':>7} {'stale':>7} "
          f"{'failed rollovers':>16}")
    for o in outcomes:
        stale = "-" if o.stale is None else str(o.stale)
        failed = "-" if o.failed_rollovers is None else str(o.failed_rollovers)
        print(f"{o.design:<10} {o.seconds:>7.1f} {o.files:>5} {o.over_size:>9} {o.lines:>8} "
              f"{o.lost:>6} {o.doubled:>7} {o.out_of_order:>12} {o.mangled:>7} {stale:>7} "
              f"{failed:>16}")
    print(f"(of {args.processes * args.records:,} records; stale and failed rollovers are "
          "counted by the stdlib handlers themselves; framepipe's one writer writes only to the "
          "current file)")
    ours = outcomes[-1]
    problems = ours.lost + ours.doubled + ours.out_of_order + ours.mangled
    return 0 if problems == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
