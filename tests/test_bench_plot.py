"""Tests for framepipe.bench.plot: a real PNG from a small measured result."""

from __future__ import annotations

from pathlib import Path

import pytest

from framepipe.bench.loop import RunTimings
from framepipe.bench.plot import write_plot
from framepipe.bench.rows import result_rows
from framepipe.bench.runner import BenchConfig, BenchResult, CellResult
from framepipe.bench.sinks import parse_sink

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _cells(sink: str) -> list[CellResult]:
    def run(ms: float) -> RunTimings:
        frames = [int(ms * 1e6)] * 5
        return RunTimings(frame_ns=frames, call_ns=[1000] * 5, wall_ns=sum(frames))

    return [
        CellResult(sink, every, mode, "ok", runs=[run(base)])
        for every in (1, 10)
        for mode, base in (("none", 2.0), ("sync", 7.0), ("async", 2.01))
    ] + [CellResult(sink, 1, "loguru", "skipped")]


def test_writes_a_png_with_a_column_per_sink(tmp_path: Path) -> None:
    """Two sinks, two log rates, a skipped mode: the file is a real, non-trivial PNG."""
    pytest.importorskip("matplotlib", reason="optional 'plot' extra not installed")
    config = BenchConfig(
        frames=5, repeat=1, log_every=(1, 10), sinks=(parse_sink("file"), parse_sink("slow:5"))
    )
    result = BenchResult(
        config, _cells("file") + _cells("slow:5"), {}, "synthetic", "edges", (48, 64, 3)
    )
    path = tmp_path / "bench.png"
    write_plot(result, result_rows(result), path)
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    width = int.from_bytes(data[16:20], "big")
    height = int.from_bytes(data[20:24], "big")
    assert width > height > 100  # two columns side by side, landscape
