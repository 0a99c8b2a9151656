"""A Pipeline writing a video while its processor logs PER_FRAME numbered records a frame, ended
the way MODE says when it reaches frame AT.

    end_while_logging.py MODE LOG_DIR OUT AT

MODE is ``sigterm`` or ``sigint`` (a signal from the parent once this prints "ready"; on
SIGTERM the application stops its pipeline, SIGINT is Python's KeyboardInterrupt through
``run()``, re-raised), ``main-exception`` or ``thread-exception`` (an exception in the processor,
or in another thread while the run goes on), ``sys-exit`` (``sys.exit(3)`` in the processor) or
``os-exit`` (``os._exit(4)`` after ``flush()``).

Whenever it still can, it prints one JSON line: ``seq`` (records logged), ``frames`` (frames
the processor finished), ``frames_processed`` and ``frames_written`` (the run's report; after a
KeyboardInterrupt, which takes the report with it, the snapshot's count and None), and the
logger's ``stats``.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from typing import Any

import numpy as np

from framepipe.logging import configure
from framepipe.pipeline import Pipeline

PER_FRAME = 100


class Noisy:
    """Logs PER_FRAME numbered records a frame; at frame AT ends the way MODE says."""

    def __init__(self, log: Any, mode: str, at: int) -> None:
        self.log, self.mode, self.at = log, mode, at
        self.frames = self.seq = 0

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        for _ in range(PER_FRAME):
            self.log.info("seq %d", self.seq)
            self.seq += 1
        self.frames += 1
        if self.frames == self.at:
            print("ready", flush=True)
            if self.mode == "main-exception":
                raise RuntimeError("processor crashed")
            if self.mode == "thread-exception":
                threading.Thread(target=self.background_crash, name="grabber-3").start()
            if self.mode == "sys-exit":
                sys.exit(3)
            if self.mode == "os-exit":
                self.log.flush(10)
                os._exit(4)
        return frame

    def background_crash(self) -> None:
        for i in range(1000):
            self.log.info("bg %d", i)
        raise ValueError("grabber thread lost its device")


def report(log: Any, noisy: Noisy, processed: int, written: int | None) -> None:
    log.flush(10)
    said = {
        "seq": noisy.seq,
        "frames": noisy.frames,
        "frames_processed": processed,
        "frames_written": written,
        "stats": dict(log.get_stats()),
    }
    print(json.dumps(said), flush=True)


def main(mode: str, log_dir: str, out: str, at: int) -> None:
    pipeline: Pipeline | None = None
    if mode == "sigterm":  # an application that stops its pipeline on SIGTERM
        signal.signal(signal.SIGTERM, lambda signum, frame: pipeline and pipeline.stop())
    if mode == "sigint":
        # Python's own KeyboardInterrupt, even when started with SIGINT ignored (as a shell
        # without job control starts a command run in the background).
        signal.signal(signal.SIGINT, signal.default_int_handler)
    log = configure(log_dir=log_dir, queue_size=100_000)
    noisy = Noisy(log, mode, at)
    pipeline = Pipeline(
        "synthetic:640x360@30:20",
        processor=noisy,
        realtime=True,
        output=out,
        log_every=1,
        logger=log,
        max_frames=at + 30 if mode == "thread-exception" else None,
    )
    try:
        result = pipeline.run()
    except KeyboardInterrupt:  # the report goes with it: the snapshot still has the count
        report(log, noisy, pipeline.snapshot().frames_processed, None)
        raise
    report(log, noisy, result.frames_processed, result.frames_written)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
