"""What a run of several streams did: one result per stream, the totals, and the table.

Each stream's entry is the single-stream summary (``PipelineReport.to_dict()``) plus ``stream``,
``pid``, ``exit``, ``error``, ``ended``, ``restarts`` (the last 100),
``restart_count``, ``cv_threads`` and ``node`` (the machine
that ran it with the Ray engine, else null). A worker that died without a report (killed,
crashed) gets one made from its last snapshot (``PipelineReport.from_snapshot``): the same keys,
with ``null`` where the snapshot does not tell (``frame_ms.mean``, ``frame_ms.p95``, ...).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from framepipe._text import plural
from framepipe.pipeline.report import PipelineReport
from framepipe.pipeline.stats import merged_timings

__all__ = ["Attempt", "StreamResult", "StreamsReport"]

TOTAL_KEYS = ("frames_processed", "fps", "budget_misses", "frames_dropped", "duration_s")


@dataclass(frozen=True)
class Attempt:
    """An earlier run of a stream that failed and was restarted."""

    pid: int | None
    exit: int | None
    error: str | None
    frames_processed: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "exit": self.exit,
            "error": self.error,
            "frames_processed": self.frames_processed,
        }


@dataclass(frozen=True)
class StreamResult:
    """One stream: its report, its last process and how it ended.

    The report's counters (frames, drops, misses, failures, reconnects) count every attempt of
    a restarted stream; its times, rates and percentiles are the last attempt's.

    ``exit`` is the worker's exit code (negative: killed by that signal; None: it never
    started); ``error`` None and ``exit`` 0 mean it ended cleanly. ``node``: the machine that
    ran it, when the engine runs streams elsewhere (Ray), where its ``--output`` is written.
    """

    stream: str
    summary: PipelineReport
    pid: int | None
    exit: int | None
    error: str | None
    ended: str | None
    cv_threads: int
    restarts: tuple[Attempt, ...] = ()
    node: str | None = None
    restart_count: int | None = None  # every restart; ``restarts`` may list only the last ones

    @property
    def ok(self) -> bool:
        return self.error is None and self.exit == 0

    @property
    def frames_processed(self) -> int:
        """Processed in every run of this stream, restarts included (the summary's count)."""
        return self.summary.frames_processed

    def to_dict(self) -> dict[str, Any]:
        return {
            "stream": self.stream,
            **self.summary.to_dict(),
            "pid": self.pid,
            "exit": self.exit,
            "error": self.error,
            "ended": self.ended,
            "restarts": [attempt.to_dict() for attempt in self.restarts],
            "restart_count": (
                len(self.restarts) if self.restart_count is None else self.restart_count
            ),
            "cv_threads": self.cv_threads,
            "node": self.node,
        }


@dataclass(frozen=True)
class StreamsReport:
    """Every stream's result, the totals and the parent's log counters.

    ``duration_s`` is the wall time of the whole run, start of the first worker to the end of
    the last.
    """

    streams: tuple[StreamResult, ...]
    duration_s: float
    cv_threads: int
    log: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Every stream ended cleanly."""
        return all(stream.ok for stream in self.streams)

    @property
    def total(self) -> dict[str, Any]:
        """Frames (restarts included), FPS (the sum of the streams'), misses, drops, time."""
        return {
            "frames_processed": sum(stream.frames_processed for stream in self.streams),
            "fps": round(sum(_number(s.summary.fps) for s in self.streams), 2),
            "budget_misses": sum(s.summary.budget_misses for s in self.streams),
            "frames_dropped": sum(s.summary.frames_dropped for s in self.streams),
            "duration_s": round(self.duration_s, 3),
            "streams": len(self.streams),
            "failed": sum(not stream.ok for stream in self.streams),
            "cv_threads": self.cv_threads,
            **self._timings(),
        }

    def _timings(self) -> dict[str, Any]:
        """Frame time and age over every frame of every stream, from their merged sketches."""
        timings = merged_timings(stream.summary.frame_stats for stream in self.streams)
        return {
            "frame_ms": timings.frame_ms,
            "frame_age_ms": timings.frame_age_ms,
            "percentiles_estimated": timings.percentiles_estimated,
        }

    def to_dict(self) -> dict[str, Any]:
        """The summary JSON: ``streams``, ``total`` and ``log``; no value that is not finite."""
        document: dict[str, Any] = _finite(
            {
                "streams": [
                    {**entry, "log": _as_written(entry["log"], self.log)}
                    for entry in (stream.to_dict() for stream in self.streams)
                ],
                "total": self.total,
                "log": dict(self.log),
            }
        )
        return document

    def to_text(self) -> str:
        """One row per stream and a total row; then what went wrong, and the log."""
        header = ("stream", "pid", "exit", "ended", "frames", "dropped", "FPS", "misses",
                  "p99 ms", "age p99 ms")  # fmt: skip
        rows = [header] + [_row(stream) for stream in self.streams]
        total = self.total
        rows.append(
            ("total", "", "", "", str(total["frames_processed"]), str(total["frames_dropped"]),
             f"{total['fps']:.1f}", str(total["budget_misses"]), _ms(total["frame_ms"]["p99"]),
             _ms(total["frame_age_ms"]["p99"]))
        )  # fmt: skip
        widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
        numeric = {1, 2, 4, 5, 6, 7, 8, 9}
        lines = [
            "  ".join(
                cell.rjust(width) if column in numeric else cell.ljust(width)
                for column, (cell, width) in enumerate(zip(row, widths, strict=True))
            ).rstrip()
            for row in rows
        ]
        nodes = [f"{s.stream} on {s.node}" for s in self.streams if s.node is not None]
        if nodes:
            lines.append("nodes: " + ", ".join(nodes))
        for stream in self.streams:
            for attempt in stream.restarts:
                lines.append(
                    f"{stream.stream}: pid {attempt.pid} {attempt.error or 'failed'}, restarted"
                )
            if stream.error is not None:
                lines.append(f"{stream.stream}: {stream.error}")
        lines.append(
            f"{plural(len(self.streams), 'stream')} in {self.duration_s:.2f} s, "
            f"OpenCV threads per worker: {self.cv_threads}"
        )
        log = self.log
        if log:
            lines.append(
                f"log: {plural(log.get('written', 0), 'record')} written, "
                f"{log.get('dropped', 0)} dropped, {plural(log.get('errors', 0), 'error')} "
                f"({log.get('mode', '?')}) -> {log.get('log_file')}"
            )
        return "\n".join(lines)


def _as_written(log: Mapping[str, Any], parent: Mapping[str, Any]) -> dict[str, Any]:
    """A worker's log counters, honest about the parent's one writer.

    A worker logging through the parent's channel counts as ``written`` what the parent took;
    when the parent then failed to write records (``errors``: a full disk), which of them were
    this worker's is not known: its ``written`` is None and ``sent`` says what the parent took.
    """
    if "channel" not in log or not parent.get("errors"):
        return dict(log)
    return {**log, "written": None, "sent": log.get("written")}


def _row(stream: StreamResult) -> tuple[str, ...]:
    summary = stream.summary
    return (
        stream.stream,
        "" if stream.pid is None else str(stream.pid),
        "" if stream.exit is None else str(stream.exit),
        stream.ended or ("error" if stream.error else ""),
        str(stream.frames_processed),
        str(summary.frames_dropped),
        f"{_number(summary.fps):.1f}",
        str(summary.budget_misses),
        _ms(summary.frame_ms["p99"]),
        _ms(summary.frame_age_ms["p99"]),
    )


def _ms(value: float) -> str:
    """A time for the table; ``-`` for one that is not known."""
    return f"{value:.2f}" if math.isfinite(value) else "-"


def _number(value: float) -> float:
    return value if math.isfinite(value) else 0.0


def _finite(value: Any) -> Any:
    """``value`` with every float that is not finite replaced by None (strict JSON)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [_finite(item) for item in value]
    return value
