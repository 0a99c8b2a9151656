"""What ``Pipeline.snapshot()`` reads: one run's state and the live objects that count for it.

The run writes plain attributes (one store each) and the frame loop publishes into a
:class:`~framepipe.pipeline.live.LiveWindow`; :meth:`RunStatus.snapshot` copies them on the
caller's thread. Nothing here takes a lock the loop could wait on, so any thread may ask at any
moment: before the run (zeros), during it, and after it (the report's final counts).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from framepipe._camera import CameraReading
from framepipe._text import hide_secrets
from framepipe.pipeline.histogram import FrameHistograms
from framepipe.pipeline.live import LiveWindow, PipelineSnapshot, RunState

if TYPE_CHECKING:
    from framepipe.pipeline.buffer import FrameBuffer
    from framepipe.pipeline.reader import CapturedFrame, FrameReader
    from framepipe.pipeline.reconnect import ReconnectingSource
    from framepipe.pipeline.report import PipelineReport
    from framepipe.pipeline.results import ResultsWriter
    from framepipe.pipeline.stats import FrameStats

__all__ = ["RunStatus"]

_DOWN = ("reconnecting", "connecting")  # a live source's states in which no frame arrives


class RunStatus:
    """One run as observers see it; a new run gets a new ``RunStatus``.

    ``state`` moves starting -> running -> stopping -> ended, written by the run only; a
    snapshot says ``reconnecting`` instead of ``running`` while a live source is being reopened.
    """

    def __init__(self, source: str, budget_ms: float = 0.0) -> None:
        self.state: RunState = "starting"
        self.camera: CameraReading | None = None
        self.source = hide_secrets(source)  # observers show it: a URL's password never
        self.budget_ms = budget_ms
        self.window = LiveWindow()
        self.histograms = FrameHistograms.fixed()
        self._reader: FrameReader | None = None
        self._buffer: FrameBuffer[CapturedFrame] | None = None
        self._stats: FrameStats | None = None
        self._live: ReconnectingSource | None = None
        self._failed = 0
        self._report: PipelineReport | None = None
        self.results_writer: ResultsWriter | None = None
        self._last_results: tuple[int, float, Any] | None = None

    def attach(
        self,
        source: str,
        budget_ms: float,
        reader: FrameReader,
        buffer: FrameBuffer[CapturedFrame],
        stats: FrameStats,
        live: ReconnectingSource | None = None,
        camera: CameraReading | None = None,
    ) -> None:
        """The run's stages, once built (the source is open, so its name is final)."""
        self.camera = camera
        self.source = hide_secrets(source)
        self.budget_ms = budget_ms
        self._reader, self._buffer, self._stats, self._live = reader, buffer, stats, live

    def frame_failed(self) -> None:
        """One more frame the processor failed on and the run skipped (frame loop only)."""
        self._failed += 1

    def results_seen(self, frame: int, t: float, results: Any) -> None:
        """The latest frame's results, for the monitor (frame loop only: one store)."""
        self._last_results = (frame, t, results)

    def _results_part(self) -> dict[str, Any]:
        """The results counts and the last results JSON can hold, as plain values."""
        from framepipe.pipeline.results import plain_results

        values: dict[str, Any] = {}
        writer = self.results_writer
        if writer is not None:
            counts = writer.stats()
            values.update(
                results_written=counts.written,
                results_dropped=counts.dropped,
                results_errors=counts.errors,
            )
        last = self._last_results
        if last is not None:
            frame, t, results = last
            try:
                plain = plain_results(results)
                json.dumps(plain, allow_nan=False)
            except (TypeError, ValueError, RecursionError):
                pass  # counted and said by the writer, when there is one
            else:
                values["last_results"] = {"frame": frame, "t": round(t, 6), "results": plain}
        return values

    def finish(self, report: PipelineReport) -> None:
        """The final counts: frames left in the buffer and a failed frame are known now."""
        self._report = report

    def snapshot(self, now: float) -> PipelineSnapshot:
        """The run at ``now`` (the pipeline's clock), built on the caller's thread."""
        state, window, live = self.state, self.window, self._live
        report, reader, buffer, stats = self._report, self._reader, self._buffer, self._stats
        if report is not None:
            frames_read, dropped, failed = (
                report.frames_read,
                report.frames_dropped,
                report.frames_failed,
            )
            misses, elapsed = report.budget_misses, report.duration_s
            reconnects, disconnected_s = report.reconnects, report.disconnected_s
        else:
            frames_read = reader.frames_read if reader is not None else 0
            dropped = buffer.dropped_so_far if buffer is not None else 0
            failed = self._failed
            misses = stats.misses if stats is not None else 0
            elapsed = stats.duration_s if stats is not None else 0.0
            reconnects = live.reconnects if live is not None else 0
            disconnected_s = round(live.disconnected_s, 3) if live is not None else 0.0
            if state == "running" and live is not None and live.state in _DOWN:
                state = "reconnecting"
        return PipelineSnapshot(
            state=state,
            source=self.source,
            budget_ms=self.budget_ms,
            frames_read=frames_read,
            frames_processed=window.count,
            frames_dropped=dropped,
            frames_failed=failed,
            budget_misses=misses,
            reconnects=reconnects,
            elapsed_s=elapsed,
            fps=window.fps(now),
            frame_ms=window.frame_ms(),
            frame_age_ms=window.frame_age_ms(),
            last_frame_at=window.last_finished_at,
            latest_frame=window.latest_frame,
            camera=self.camera,
            disconnected_s=disconnected_s,
            frame_histogram=self.histograms.frame.read(),
            age_histogram=self.histograms.age.read(),
            loops=reader.loops if reader is not None else 0,
            frame_sketch=stats.frame_sketch.copy() if stats is not None else None,
            age_sketch=stats.age_sketch.copy() if stats is not None else None,
            **self._results_part(),
        )
