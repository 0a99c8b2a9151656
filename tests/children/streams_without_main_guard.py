"""Start streams at module level, without ``if __name__ == "__main__":``, as a first program
often does: each worker process imports this module again before it runs.

Prints ``ERROR <text>`` for each stream's error once the set has ended.
"""

from __future__ import annotations

from framepipe.streams import start_streams

handle = start_streams(["synthetic:64x48@30:30"], names=["cam"])
report = handle.wait(60)
assert report is not None, "the streams did not end within 60 s"
for result in report.streams:
    print("ERROR", result.error)
