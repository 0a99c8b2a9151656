"""Publisher: readings built in the watched process, plain values only, frames only on demand."""

from __future__ import annotations

import dataclasses
import io
import logging
import pickle
from typing import Any

import numpy as np
import pytest

from framepipe.monitor.providers import Monitored
from framepipe.monitor.publisher import NO_PREVIEW, Publisher, stream_reading
from framepipe.monitor.reading import read_message
from framepipe.pipeline.live import PipelineSnapshot
from helpers import wait_until
from monitor_helpers import SyntheticRun


def plain_types(value: object) -> set[str]:
    """The module of every type inside ``value`` (recursively)."""
    if isinstance(value, dict):
        return {m for item in value.items() for m in plain_types(item)}
    if isinstance(value, (list, tuple)):
        return {m for item in value for m in plain_types(item)}
    if hasattr(value, "__dataclass_fields__"):
        return {type(value).__module__} | plain_types(vars(value))
    return {type(value).__module__}


class SnapshotsOnly:
    """A provider with nothing but ``snapshot()``, taken from ``run``: no histograms, pid or
    node."""

    def __init__(self, run: SyntheticRun) -> None:
        self.run = run

    def snapshot(self):  # type: ignore[no-untyped-def]
        return self.run.snapshot()


class TestStreamReading:
    def test_a_stream_carries_its_snapshot_without_the_frame_in_plain_values(self) -> None:
        """No numpy value crosses the pipe, and the frame stays behind."""
        with SyntheticRun() as run:
            run.wait_for_frames(3)
            snapshot = run.snapshot()
            state = stream_reading(snapshot, run)
        assert snapshot.latest_frame is not None and state.snapshot.latest_frame is None
        assert plain_types(state) <= {
            "builtins",
            "framepipe.monitor.reading",
            "framepipe._snapshot",
        }
        assert state.snapshot.frames_processed >= 3
        assert state.frame_histogram is not None
        assert state.frame_histogram[1][-1] >= 3  # the +Inf bucket counts every frame

    def test_numpy_numbers_of_a_loop_of_one_s_own_become_python_s(self) -> None:
        """A provider may count in numpy: its numbers cross the pipe as plain ints and floats."""
        with SyntheticRun() as run:
            run.wait_for_frames(1)
            snapshot = dataclasses.replace(
                run.snapshot(), frames_processed=np.int64(7), fps=np.float32(29.5),
                frame_ms={"p50": np.float64(1.5), "p99": 2.0, "max": 3.0},
            )  # fmt: skip
            state = stream_reading(snapshot, run)
        assert b"numpy" not in pickle.dumps(state)
        assert (state.snapshot.frames_processed, state.snapshot.fps) == (7, 29.5)
        assert type(state.snapshot.frame_ms["p50"]) is float

    def test_where_a_stream_runs_comes_from_its_provider(self) -> None:
        """A provider's ``pid`` and ``node`` (a worker, a Ray actor) travel with the stream."""

        class Elsewhere(SnapshotsOnly):
            pid = 4242
            node = "node-7"

        with SyntheticRun() as run:
            run.wait_for_frames(1)
            state = stream_reading(run.snapshot(), Elsewhere(run))  # type: ignore[arg-type]
        assert (state.pid, state.node) == (4242, "node-7")

    def test_histograms_are_left_out_for_a_provider_without_them(self) -> None:
        """Only providers with histograms() carry them."""

        with SyntheticRun() as run:
            run.wait_for_frames(1)
            state = stream_reading(run.snapshot(), SnapshotsOnly(run))  # type: ignore[arg-type]
        assert state.frame_histogram is None and state.age_histogram is None


class TestPublisher:
    def test_frames_are_encoded_only_while_wanted_and_only_when_new(self) -> None:
        """No JPEG until the server asks; then one per new frame, never the same one twice."""
        with SyntheticRun() as run:
            run.wait_for_frames(1)
            publisher = Publisher(Monitored(streams={"main": run}), io.BytesIO())
            assert publisher.reading().previews.get("main") is None
            publisher.want_frames()
            first = publisher.reading().previews.get("main")
            assert first is not None and first[:2] == b"\xff\xd8"
            # The same frame, or too soon: nothing is sent again.
            assert publisher.reading().previews.get("main") is None

    def test_a_provider_that_raises_becomes_an_error_reading(self) -> None:
        """The run goes on; the reading carries the error for the server to answer 500 with."""

        class Broken:
            def snapshot(self) -> object:
                raise RuntimeError("snapshot failed")

        publisher = Publisher(Monitored(streams={"main": Broken()}), io.BytesIO())  # type: ignore[dict-item]
        reading = publisher.reading()
        assert reading.error == "RuntimeError: snapshot failed"
        assert reading.streams == {}

    def test_published_readings_unpickle_without_numpy_types(self) -> None:
        """What is written is a framed Reading that pickles back with plain values."""
        out = io.BytesIO()
        with SyntheticRun() as run:
            run.wait_for_frames(2)
            Publisher(Monitored(streams={"main": run}), out).publish()
        out.seek(0)
        reading = read_message(out)
        assert b"numpy" not in pickle.dumps(reading)
        assert reading.streams["main"].snapshot.frames_processed >= 2
        assert not isinstance(reading.streams["main"].snapshot.fps, np.floating)


class Returns:
    """A run whose latest frame is ``output``: what a processor returned in place of a frame."""

    def __init__(self, run: SyntheticRun, output: object) -> None:
        self.run, self.output = run, output

    def snapshot(self) -> PipelineSnapshot:
        return dataclasses.replace(self.run.snapshot(), latest_frame=self.output)  # type: ignore[arg-type]


class Collected(io.BytesIO):
    """A server's stdin that keeps what was written (also once closed); ``broken`` makes
    writes fail as a pipe to a process that is gone does."""

    def __init__(self) -> None:
        super().__init__()
        self.data = bytearray()
        self.broken = False
        self.writes = 0  # attempts, failed ones too

    def write(self, data: Any) -> int:
        self.writes += 1
        if self.broken:
            raise BrokenPipeError(32, "Broken pipe")
        chunk = bytes(data)
        self.data += chunk
        return len(chunk)


def monitor_records(caplog: pytest.LogCaptureFixture, level: int) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "framepipe.monitor" and r.levelno == level]


class TestFailures:
    def test_a_frame_that_is_no_image_is_the_reading_s_frame_error_logged_once(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """The reading carries why there is no picture, for the server to answer with; the
        warning is logged once however many readings carry it."""
        with SyntheticRun() as run:
            run.wait_for_frames(1)
            publisher = Publisher(
                Monitored(streams={"main": Returns(run, "not a frame")}),
                io.BytesIO(),
            )
            publisher.want_frames()
            readings = [publisher.reading() for _ in range(5)]
        for reading in readings:
            assert not reading.previews
            error = reading.preview_errors["main"]
            assert error == f"{NO_PREVIEW}: the frame is a str, not an image array"
        (warning,) = monitor_records(caplog, logging.WARNING)
        assert NO_PREVIEW in warning.getMessage()

    def test_a_reading_that_raises_is_logged_once_and_publishing_goes_on(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """An exception in the thread's loop ends nothing: one ERROR, then readings again."""
        calls = [0]

        def clock() -> float:
            calls[0] += 1
            if calls[0] <= 3:
                raise RuntimeError("clock broke")
            return float(calls[0])

        out = Collected()
        publisher = Publisher(Monitored(streams={}, clock=clock), out, interval_s=0.01)
        publisher.start()
        try:
            wait_until(lambda: out.data, "a reading after the failures")
        finally:
            publisher.stop(5.0)
        (error,) = monitor_records(caplog, logging.ERROR)
        assert "clock broke" in error.getMessage() and error.exc_info is not None

    def test_a_server_that_is_gone_is_left_to_its_watcher_and_attach_resumes(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Writes to a broken pipe are not errors of the publisher's (the server's watcher
        reports the process); attach() sends to the new one and closes the old."""
        broken, fresh = Collected(), Collected()
        broken.broken = True
        publisher = Publisher(Monitored(streams={}), broken, interval_s=0.01)
        publisher.start()
        try:
            wait_until(lambda: broken.writes >= 3, "three writes to the broken pipe")
            publisher.attach(fresh)
            wait_until(lambda: fresh.data, "a reading written to the new output")
        finally:
            publisher.stop(5.0)
        assert broken.closed and not caplog.records
        assert read_message(io.BytesIO(bytes(fresh.data))) is not None
