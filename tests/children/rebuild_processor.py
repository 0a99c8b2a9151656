"""Read a pickled processor spec on stdin, rebuild it as a worker process would, and print its
name and what it makes of a frame of 10s (the value of its first pixel)."""

from __future__ import annotations

import pickle
import sys

import numpy as np

from framepipe.pipeline.processors import resolve_processor

if __name__ == "__main__":
    fn, name = resolve_processor(pickle.loads(sys.stdin.buffer.read()))
    print(name, int(fn(np.full((2, 2, 3), 10, np.uint8))[0, 0]))
