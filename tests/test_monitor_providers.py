"""What the server watches: any snapshot provider under a stream name, any logger, a clock."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from framepipe.logging import configure
from framepipe.monitor import HistogramProvider, serve
from framepipe.monitor.providers import Monitored
from framepipe.pipeline.live import PipelineSnapshot
from monitor_helpers import SyntheticRun, request, serves_frames, wait_for_json


class SnapshotOnly:
    """A provider without histograms: only ``snapshot()``, as a minimal observer offers."""

    def __init__(self, run: SyntheticRun) -> None:
        self._run = run

    def snapshot(self) -> PipelineSnapshot:
        return self._run.snapshot()


class TestMonitored:
    @pytest.mark.parametrize("name", ["", 3])
    def test_stream_names_must_be_non_empty_strings(self, name: object) -> None:
        """A stream name becomes a label value: it must be a real string."""
        with pytest.raises(ValueError, match="stream names must be non-empty strings"):
            Monitored(streams={name: object()})  # type: ignore[dict-item]

    def test_the_logger_given_is_read_instead_of_the_process_one(self, tmp_path: Path) -> None:
        """``logger=`` takes any object with ``get_stats()``."""
        log = configure(log_dir=tmp_path / "a")
        monitored = Monitored(logger=log)
        stats = monitored.log_stats()
        assert stats is not None
        assert stats["log_file"] == log.get_stats()["log_file"]


class TestProviders:
    def test_a_provider_with_only_snapshot_is_served_without_histograms(self) -> None:
        """Histograms are optional: counters and gauges still come from the snapshot."""
        with SyntheticRun() as run, serve(port=0, pipeline=SnapshotOnly(run)) as server:
            run.wait_for_frames(2)
            assert not isinstance(SnapshotOnly(run), HistogramProvider)
            assert isinstance(run, HistogramProvider)
            wait_for_json(server, "/system-resources", serves_frames)
            text = request(server, "/metrics").body.decode()
        families = {f.name: f for f in text_string_to_metric_families(text)}
        assert families["framepipe_frame_seconds"].samples == []
        assert families["framepipe_frames_processed"].samples

    def test_the_stream_label_names_the_pipeline(self) -> None:
        """``serve(stream=...)`` is the label every stream metric carries."""
        with SyntheticRun() as run, serve(port=0, pipeline=run, stream="door-camera") as server:
            wait_for_json(server, "/system-resources", serves_frames)
            text = request(server, "/metrics").body.decode()
        families = {f.name: f for f in text_string_to_metric_families(text)}
        labels = {s.labels["stream"] for s in families["framepipe_frames_read"].samples}
        assert labels == {"door-camera"}
