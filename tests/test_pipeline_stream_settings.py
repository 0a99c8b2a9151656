"""Tests for framepipe.pipeline.stream_settings: one stream's settings from a mapping."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from framepipe._camera import CameraSettings
from framepipe.pipeline.config import PipelineConfig
from framepipe.pipeline.stream_settings import (
    SETTING_KEYS,
    STREAM_KEYS,
    SettingsError,
    StreamSettings,
    settings_defaults,
    stream_settings,
)

SAMPLE = str(Path(__file__).resolve().parent.parent / "samples" / "sample.mp4")


def settings_of(table: dict[str, Any], **kwargs: Any) -> StreamSettings:
    return stream_settings(table, where="cameras.toml", position=2, **kwargs)


class TestValidStreams:
    def test_every_pipeline_config_field_is_a_stream_key(self):
        """The keys are PipelineConfig's fields, by the same names, plus name, source and
        processor: a field added to the config is a key at once."""
        fields = {field.name for field in dataclasses.fields(PipelineConfig)}
        assert set(STREAM_KEYS) == fields | {"name", "source", "processor"}
        assert "name" not in SETTING_KEYS and "source" not in SETTING_KEYS

    def test_a_table_becomes_typed_settings(self):
        stream = settings_of(
            {"name": "desk", "source": 0, "processor": ["edges", "mypkg.detect:Faces"],
             "budget_ms": 20, "on_error": "skip",
             "camera": {"size": "1280x720", "fps": 30, "fourcc": "MJPG"}}
        )  # fmt: skip
        assert stream == StreamSettings(
            "desk",
            0,
            ("edges", "mypkg.detect:Faces"),
            PipelineConfig(
                budget_ms=20, on_error="skip", camera=CameraSettings((1280, 720), 30.0, "MJPG")
            ),
        )
        assert stream.camera == CameraSettings((1280, 720), 30.0, "MJPG") and not stream.loop

    def test_defaults_fill_what_a_stream_does_not_set(self):
        defaults = settings_defaults({"processor": "blur", "budget_ms": 33.3, "log_every": 10})
        stream = settings_of({"name": "demo", "source": SAMPLE, "loop": True, "log_every": 5},
                             defaults=defaults)  # fmt: skip
        assert stream.processor == ("blur",)
        assert (stream.config.budget_ms, stream.config.log_every, stream.loop) == (33.3, 5, True)

    def test_the_default_processor_is_motion(self):
        assert settings_of({"name": "s", "source": "synthetic"}).processor == ("motion",)

    def test_to_dict_reads_back_to_the_same_settings(self):
        stream = settings_of({"name": "s", "source": "synthetic:64x48@30:1", "loop": True,
                              "camera": {"size": "32x24"}, "output": "out.mkv"})  # fmt: skip
        assert settings_of(json.loads(json.dumps(stream.to_dict()))) == stream


class TestErrors:
    @pytest.mark.parametrize(
        ("table", "key", "message"),
        [
            # unknown keys, with the closest known one
            ({"name": "a", "source": 0, "budgt_ms": 3}, "budgt_ms",
             "stream 'a': unknown key 'budgt_ms' (did you mean 'budget_ms'?)"),
            ({"name": "a", "source": 0, "colour": 3}, "colour", "stream 'a': unknown key 'colour'"),
            ({"name": "a b", "colour": 3}, "colour", "stream 2: unknown key 'colour'"),
            # the name: missing, or not one a file can carry
            ({"source": 0}, "name", "stream 2: name is missing"),
            ({"name": "a b", "source": 0}, "name", "stream 2: stream name must be ASCII"),
            ({"name": 7, "source": 0}, "name", "stream 2: stream name must be ASCII"),
            # the source
            ({"name": "a"}, "source", "stream 'a': source is missing"),
            ({"name": "a", "source": 1.5}, "source", "stream 'a': source must be a camera"),
            ({"name": "a", "source": True}, "source", "stream 'a': source must be a camera"),
            ({"name": "a", "source": -1}, "source", "stream 'a': source: camera index must be"),
            ({"name": "a", "source": "no/such.mp4"}, "source",
             "stream 'a': source: no such file: no/such.mp4"),
            ({"name": "a", "source": "synthetic:1x1"}, "source",
             "stream 'a': source: synthetic source must be"),
            # PipelineConfig's own checks, as the flags have them
            ({"name": "a", "source": 0, "budget_ms": -1}, "budget_ms",
             "stream 'a': budget_ms must be positive and finite, but got -1"),
            ({"name": "a", "source": 0, "log_every": "3"}, "log_every",
             "stream 'a': log_every must be a positive integer, but got '3'"),
            ({"name": "a", "source": 0, "display": 1}, "display",
             "stream 'a': display must be True or False, but got 1"),
            ({"name": "a", "source": 0, "drop_policy": "oldest"}, "drop_policy",
             "stream 'a': drop_policy must be one of"),
            ({"name": "a", "source": 0, "output": "a.gif"}, "output",
             "stream 'a': output file extension must be one of"),
            # processors: a form, never an import
            ({"name": "a", "source": 0, "processor": []}, "processor",
             "stream 'a': processor must be a name or import path, or a non-empty list"),
            ({"name": "a", "source": 0, "processor": "sharpen"}, "processor",
             "stream 'a': processor: unknown processor 'sharpen'"),
            ({"name": "a", "source": 0, "processor": ["x y:z"]}, "processor",
             "stream 'a': processor import path must be"),
            # loop and camera, with the source they go with
            ({"name": "a", "source": 0, "loop": True}, "loop",
             "stream 'a': loop: 0 is a camera or stream, which cannot start again"),
            ({"name": "a", "source": SAMPLE, "camera": {"fps": 30}}, "camera",
             "stream 'a': camera: camera settings are for a camera or the synthetic scene"),
            ({"name": "a", "source": 0, "camera": {"size": "12"}}, "camera",
             "stream 'a': camera.size must be WIDTHxHEIGHT"),
            ({"name": "a", "source": 0, "camera": {"sise": "1x1"}}, "camera",
             "stream 'a': camera: unknown key 'sise' (did you mean 'size'?)"),
            ({"name": "a", "source": 0, "camera": "1280x720"}, "camera",
             "stream 'a': camera must be a table of size, fps, fourcc"),
        ],
    )  # fmt: skip
    def test_each_mistake_is_one_line_naming_the_file_the_stream_and_the_key(
        self, table: dict[str, Any], key: str, message: str
    ):
        with pytest.raises(SettingsError) as caught:
            settings_of(table)
        error = caught.value
        assert str(error).startswith(f"cameras.toml: {message}"), str(error)
        assert error.key == key and "\n" not in str(error)

    def test_a_json_object_gets_the_same_message_without_a_file(self):
        """A request body is checked by the same function: the same words, no file name."""
        body = json.loads('{"name": "a", "source": 0, "budget_ms": -1}')
        with pytest.raises(SettingsError) as caught:
            stream_settings(body)
        assert str(caught.value) == "stream 'a': budget_ms must be positive and finite, but got -1"

    @pytest.mark.parametrize("table", [[1, 2], "name", None, 3])
    def test_something_that_is_not_a_table(self, table: object):
        with pytest.raises(SettingsError, match=r"^cameras\.toml: stream 2: must be a table"):
            settings_of(table)  # type: ignore[arg-type]

    def test_a_value_with_a_newline_still_makes_one_line(self):
        with pytest.raises(SettingsError) as caught:
            settings_of({"name": "a", "source": 0, "on_error": "ski\np"})
        assert "\n" not in str(caught.value)

    def test_defaults_are_checked_as_their_own_table(self):
        with pytest.raises(SettingsError, match=r"^f: \[defaults\]: unknown key 'budgetms'"):
            settings_defaults({"budgetms": 3}, where="f")
        with pytest.raises(SettingsError, match=r"^f: \[defaults\]: name cannot have a default"):
            settings_defaults({"name": "x"}, where="f")
        with pytest.raises(SettingsError, match=r"^f: \[defaults\]: log_every must be"):
            settings_defaults({"log_every": 0}, where="f")


# --- random mappings: always a value or one line of the documented kind ----------------------

VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from(["synthetic", "synthetic:32x32@30:1", "0", "rtsp://h/x", SAMPLE, "motion",
                      "edges", "a.mp4", "x:y", "1280x720", "MJPG", "skip", "latest", "-"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=3),
    max_leaves=8,
)  # fmt: skip
KEYS = st.sampled_from(STREAM_KEYS) | st.text(max_size=12)
CAMERA = st.dictionaries(st.sampled_from(["size", "fps", "fourcc", "sise"]), VALUES, max_size=3)
TABLES = st.dictionaries(KEYS, VALUES, max_size=8) | st.fixed_dictionaries(
    {"name": st.sampled_from(["cam", "a b", ""]) | st.text(max_size=5),
     "source": st.sampled_from([0, 3, "synthetic", SAMPLE, "rtsp://h/x"]) | VALUES},
    optional={key: VALUES for key in SETTING_KEYS} | {"camera": CAMERA},  # type: ignore[dict-item]
)  # fmt: skip


def assert_one_line_error(error: SettingsError, where: str) -> None:
    text = str(error)
    assert text and "\n" not in text and "\r" not in text
    assert text.startswith(f"{where}: stream ")
    assert error.key is None or repr(error.key) in text or error.key in text


# No example database: nothing written into the working tree.
@settings(max_examples=400, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
@given(table=TABLES | VALUES)
@example(table={"  ": None})  # a key of spaces, shown as it is
def test_any_mapping_is_settings_or_one_line_naming_the_stream(table: Any):
    """Whatever a file or a request body holds: a valid value, or a SettingsError of one line
    that starts with where it came from and the stream; never another exception."""
    try:
        stream = stream_settings(table, where="cameras.toml", position=1)
    except SettingsError as error:
        assert_one_line_error(error, "cameras.toml")
        return
    assert isinstance(stream, StreamSettings) and isinstance(stream.config, PipelineConfig)
    assert stream_settings(stream.to_dict()) == stream  # what it says is what it reads


def test_a_nan_budget_is_refused():
    """NaN compares false with everything: refused by the check, not let through."""
    with pytest.raises(SettingsError, match="budget_ms must be positive and finite"):
        settings_of({"name": "a", "source": 0, "budget_ms": math.nan})
