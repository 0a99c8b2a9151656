"""Publisher: readings built in the watched process, plain values only, frames only on demand."""

from __future__ import annotations

import io
import pickle

import numpy as np

from framepipe.monitor.providers import Monitored
from framepipe.monitor.publisher import Publisher, stream_state
from framepipe.monitor.reading import read_message
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


class TestStreamState:
    def test_a_snapshot_becomes_plain_values_without_its_frame(self) -> None:
        """No numpy value crosses the pipe, and the frame stays behind."""
        with SyntheticRun() as run:
            run.wait_for_frames(3)
            state = stream_state(run.snapshot(), run)
        assert plain_types(state) <= {"builtins", "framepipe.monitor.reading"}
        assert not hasattr(state, "latest_frame")
        assert state.frames_processed >= 3
        assert state.frame_histogram is not None
        assert state.frame_histogram[1][-1] >= 3  # the +Inf bucket counts every frame

    def test_histograms_are_left_out_for_a_provider_without_them(self) -> None:
        """Only providers with histograms() carry them."""

        class Only:
            def __init__(self, run: SyntheticRun) -> None:
                self.run = run

            def snapshot(self):  # type: ignore[no-untyped-def]
                return self.run.snapshot()

        with SyntheticRun() as run:
            run.wait_for_frames(1)
            state = stream_state(run.snapshot(), Only(run))  # type: ignore[arg-type]
        assert state.frame_histogram is None and state.age_histogram is None


class TestPublisher:
    def test_frames_are_encoded_only_while_wanted_and_only_when_new(self) -> None:
        """No JPEG until the server asks; then one per new frame, never the same one twice."""
        with SyntheticRun() as run:
            run.wait_for_frames(1)
            publisher = Publisher(Monitored(streams={"main": run}), io.BytesIO())
            assert publisher.reading().jpeg is None
            publisher.want_frames()
            first = publisher.reading().jpeg
            assert first is not None and first[:2] == b"\xff\xd8"
            assert publisher.reading().jpeg is None  # same frame, or too soon: nothing resent

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
        assert reading.streams["main"].frames_processed >= 2
        assert not isinstance(reading.streams["main"].fps, np.floating)
