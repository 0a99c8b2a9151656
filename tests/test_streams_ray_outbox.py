"""The Ray actor's outbox (framepipe.streams.ray_actor): what a stream sends between two polls
of the driver is bounded; results lines beyond the bound are dropped and counted as
``results_dropped`` in the snapshots and the report that follow, never waited on."""

from __future__ import annotations

import threading

from framepipe.pipeline.live import PipelineSnapshot
from framepipe.pipeline.report import PipelineReport
from framepipe.streams._messages import Finished, Results, Snapshot, Started
from framepipe.streams.ray_actor import RESULTS_OUTBOX_SIZE, _Outbox


def _snapshot(written: int, dropped: int) -> PipelineSnapshot:
    return PipelineSnapshot(
        state="running", source="cam", budget_ms=33.3, frames_read=written,
        frames_processed=written, frames_dropped=0, frames_failed=0, budget_misses=0,
        reconnects=0, elapsed_s=1.0, fps=30.0, frame_ms={}, frame_age_ms={}, last_frame_at=None,
        latest_frame=None, results_written=written, results_dropped=dropped,
    )  # fmt: skip


def _results(frame: int) -> Results:
    return Results(frame, 1.0 + frame, {"n": frame})


def test_results_beyond_the_bound_are_dropped_and_the_others_kept_in_order() -> None:
    outbox = _Outbox(threading.Event())
    assert outbox.send(Started(7))
    for frame in range(RESULTS_OUTBOX_SIZE + 25):
        assert outbox.send(_results(frame))  # never refused: the sender never waits or raises
    assert outbox.send(Finished(None, None, "boom"))  # the end marker is never dropped
    items = outbox.drain()
    assert isinstance(items[0], Started) and isinstance(items[-1], Finished)
    kept = [item.frame for item in items if isinstance(item, Results)]
    assert kept == list(range(RESULTS_OUTBOX_SIZE))
    assert outbox.results_dropped == 25
    # Room again once the driver took them.
    assert outbox.send(_results(9999)) and outbox.drain() == [_results(9999)]
    assert outbox.results_dropped == 25


def test_the_dropped_lines_move_from_written_to_dropped_in_what_the_driver_is_sent() -> None:
    """The stream's writer counted each line it handed over as written: the snapshot and the
    report the outbox passes on count the ones it dropped as dropped instead."""
    outbox = _Outbox(threading.Event())
    sent = RESULTS_OUTBOX_SIZE + 10
    for frame in range(sent):
        outbox.send(_results(frame))
    snapshot = _snapshot(sent, 3)
    report = PipelineReport.from_snapshot(snapshot, source="s", processor="p")
    outbox.send(Snapshot(snapshot))
    outbox.send(Finished(report, "end", None))
    items = outbox.drain()
    (passed,) = [item for item in items if isinstance(item, Snapshot)]
    (finished,) = [item for item in items if isinstance(item, Finished)]
    counts = (passed.snapshot.results_written, passed.snapshot.results_dropped)
    assert counts == (RESULTS_OUTBOX_SIZE, 13)
    assert finished.summary is not None
    counts = (finished.summary.results_written, finished.summary.results_dropped)
    assert counts == (RESULTS_OUTBOX_SIZE, 13)
