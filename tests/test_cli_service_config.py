"""Tests for framepipe.cli._service_config: the service's config file, read and checked."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from framepipe._camera import CameraSettings
from framepipe.cli._service_config import (
    LogSettings,
    ServerSettings,
    ServiceConfig,
    load_service_config,
    parse_service_config,
)
from framepipe.pipeline.stream_settings import STREAM_KEYS, SettingsError

SAMPLE = (Path(__file__).resolve().parent.parent / "samples" / "sample.mp4").as_posix()

GOOD = f"""
[defaults]
processor = ["motion"]
budget_ms = 33.3
on_error = "skip"
log_every = 30

[log]
dir = "service-logs"
max_bytes = 1_000_000
backup_count = 3
mode = "async"

[server]
port = 0
api_token_file = "/etc/framepipe/token"
output_dir = "recordings"
api_processors = ["edges", "mypkg.detect:Faces"]
cv_threads = 2
api_max_streams = 8

[[stream]]
name = "door"
source = "rtsp://10.0.0.5/stream1"
processor = ["edges"]
output = "recordings/door.mkv"

[[stream]]
name = "desk"
source = 0
camera = {{ size = "1280x720", fps = 30, fourcc = "MJPG" }}

[[stream]]
name = "demo"
source = "{SAMPLE}"
loop = true
"""


class TestAGoodFile:
    def test_every_table_becomes_a_typed_value(self):
        config = parse_service_config(GOOD, "cameras.toml")
        assert isinstance(config, ServiceConfig)
        assert [stream.name for stream in config.streams] == ["door", "desk", "demo"]
        door, desk, demo = config.streams
        assert door.processor == ("edges",) and desk.processor == ("motion",)  # the default
        assert {s.config.on_error for s in config.streams} == {"skip"}
        assert door.config.budget_ms == 33.3 and str(door.config.output) == "recordings/door.mkv"
        assert desk.camera == CameraSettings((1280, 720), 30.0, "MJPG")
        assert demo.loop and not desk.loop
        assert config.log == LogSettings(dir="service-logs", mode="async", max_bytes=1_000_000,
                                          backup_count=3)  # fmt: skip
        assert config.server == ServerSettings(
            host="127.0.0.1",
            port=0,
            api_token_file="/etc/framepipe/token",
            output_dir="recordings",
            api_processors=("edges", "mypkg.detect:Faces"),
            cv_threads=2,
            api_max_streams=8,
        )

    def test_a_file_of_nothing_has_no_streams_and_the_defaults(self):
        config = parse_service_config("", "empty.toml")
        assert config == ServiceConfig("empty.toml", ())
        assert config.server.port == 5000 and config.server.host == "127.0.0.1"
        assert config.server.api_max_streams == 32

    def test_read_from_disk(self, tmp_path: Path):
        path = tmp_path / "cameras.toml"
        path.write_text(GOOD, encoding="utf-8")
        assert len(load_service_config(path).streams) == 3


class TestABadFile:
    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ('[[stream]]\nname = "a"\nsource = \n',
             "cameras.toml: not valid TOML: Invalid value (at line 3, column 10)"),
            ("[strem]\n", "cameras.toml: unknown key 'strem' (did you mean 'stream'?)"),
            ("[stream]\nname = 'a'\n", "cameras.toml: stream must be [[stream]] tables"),
            ('[[stream]]\nname = "a"\nsource = 0\n[[stream]]\nname = "a"\nsource = 1\n',
             "cameras.toml: stream 'a': name 'a' of stream 2 is already the name of stream 1"),
            ('[[stream]]\nname = "a"\nsource = 0\nbudget = 3\n',
             "cameras.toml: stream 'a': unknown key 'budget' (did you mean 'budget_ms'?)"),
            ('[[stream]]\nsource = 0\n', "cameras.toml: stream 1: name is missing"),
            ('[defaults]\nlog_every = 0\n', "cameras.toml: [defaults]: log_every must be a pos"),
            ('[defaults]\nloop = true\n[[stream]]\nname = "a"\nsource = 0\n',
             "cameras.toml: stream 'a': loop: 0 is a camera or stream"),
            ('[log]\nmode = "fast"\n', "cameras.toml: [log]: mode must be one of async, sync"),
            ('[log]\nsize = 3\n', "cameras.toml: [log]: unknown key 'size'"),
            ('[log]\nqueue_size = 0\n', "cameras.toml: [log]: queue_size must be an integer >= 1"),
            ('[log]\noverflow = "x"\n', "cameras.toml: [log]: overflow must be one of drop_newest"),
            ('[server]\nport = 70000\n', "cameras.toml: [server]: port must be a port number"),
            ('[server]\nprt = 1\n', "cameras.toml: [server]: unknown key 'prt' (did you mean 'p"),
            ('[server]\napi_processors = ["x y:z"]\n',
             "cameras.toml: [server]: api_processors item: processor import path must be"),
            ('[server]\ncv_threads = 0\n',
             "cameras.toml: [server]: cv_threads must be a whole number of at least 1, but got 0"),
            ('[server]\ncv_threads = "2"\n',
             "cameras.toml: [server]: cv_threads must be a whole number of at least 1, but got '"),
            ('[server]\napi_max_streams = 0\n',
             "cameras.toml: [server]: api_max_streams must be a whole number of at least 1, but "
             "got 0"),
            ('[server]\napi_max_streams = true\n',
             "cameras.toml: [server]: api_max_streams must be a whole number of at least 1, but "
             "got True"),
            ("log = 3\n", "cameras.toml: log must be a table, but got 3"),
        ],
    )  # fmt: skip
    def test_each_mistake_is_one_line(self, text: str, message: str):
        with pytest.raises(SettingsError) as caught:
            parse_service_config(text, "cameras.toml")
        assert str(caught.value).startswith(message), str(caught.value)
        assert "\n" not in str(caught.value)

    def test_a_file_that_cannot_be_read(self, tmp_path: Path):
        with pytest.raises(SettingsError, match=r"nope.toml: cannot read the file: No such file"):
            load_service_config(tmp_path / "nope.toml")

    def test_a_file_that_is_not_utf8(self, tmp_path: Path):
        path = tmp_path / "latin1.toml"
        path.write_bytes(b"# caf\xe9\n")
        with pytest.raises(SettingsError, match=r"latin1.toml: not UTF-8 text \(byte 5\)"):
            load_service_config(path)


# --- random files: always a config or one line --------------------------------------------

SCALARS = st.sampled_from(
    ['"synthetic"', '"synthetic:32x32@30:1"', "0", "1", "-1", "true", "false", "1.5", "nan",
     "inf", '"x"', '""', '"motion"', '["edges", "blur"]', "[]", '"skip"', '"a.mp4"', '"a.gif"',
     '{ size = "1280x720" }', '{ fps = 0 }', "1979-05-27", f'"{SAMPLE}"', '"rtsp://h/x"']
)  # fmt: skip
KEY_NAMES = st.sampled_from([*STREAM_KEYS, "dir", "mode", "port", "host", "bogus", "name"])
LINES = st.one_of(
    st.builds(lambda k, v: f"{k} = {v}", KEY_NAMES, SCALARS),
    st.sampled_from(["[defaults]", "[log]", "[server]", "[[stream]]", "[stream]", "[x]",
                     'name = "cam"', 'name = "cam2"', "source = 0", "= 3", "[[", '"']),
    st.text(max_size=20),
)  # fmt: skip


@settings(max_examples=400, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
@given(lines=st.lists(LINES, max_size=14))
def test_any_text_is_a_config_or_one_line_naming_the_file(lines: list[str]):
    """Random TOML-ish text: a checked config, or a SettingsError of one line that starts with
    the file's name; never another exception."""
    try:
        config = parse_service_config("\n".join(lines), "cameras.toml")
    except SettingsError as error:
        text = str(error)
        assert text.startswith("cameras.toml: ") and "\n" not in text and "\r" not in text
        return
    assert isinstance(config, ServiceConfig)
    assert len({stream.name for stream in config.streams}) == len(config.streams)
