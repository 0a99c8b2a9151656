"""Tests for framepipe.cli._api_policy: what a stream added through the service's API may do."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from framepipe.cli._api_policy import (
    TOKEN_ENV,
    allowed_processors,
    api_stream_settings,
    load_api_token,
    weak_token,
)
from framepipe.cli._service_config import ServerSettings, ServiceConfig, parse_service_config
from framepipe.pipeline.processors import PROCESSOR_NAMES
from framepipe.pipeline.stream_settings import STREAM_KEYS, SettingsError, StreamSettings

SAMPLE = Path(__file__).resolve().parent.parent / "samples" / "sample.mp4"


@pytest.fixture
def dirs(tmp_path: Path) -> dict[str, Path]:
    """``media`` (holding a clip), ``out``, and ``outside`` (holding a clip of its own)."""
    made = {name: tmp_path / name for name in ("media", "out", "outside")}
    for path in made.values():
        path.mkdir()
    (made["media"] / "clip.mp4").write_bytes(SAMPLE.read_bytes())
    (made["outside"] / "secret.mp4").write_bytes(SAMPLE.read_bytes())
    return made


def service(
    dirs: dict[str, Path] | None = None, defaults: dict[str, Any] | None = None, **server: Any
) -> ServiceConfig:
    if dirs is not None:
        server.setdefault("media_dir", str(dirs["media"]))
        server.setdefault("output_dir", str(dirs["out"]))
    return ServiceConfig(
        "cameras.toml", (), server=ServerSettings(**server), defaults=defaults or {}
    )


def refused(body: object, config: ServiceConfig, **options: Any) -> str:
    with pytest.raises(SettingsError) as caught:
        api_stream_settings(body, config, **options)
    message = str(caught.value)
    assert "\n" not in message
    return message


def stream(**keys: Any) -> dict[str, Any]:
    return {"name": "cam", "source": "synthetic:64x48@10:1", **keys}


class TestOutputs:
    def test_a_relative_output_is_taken_from_output_dir(self, dirs):
        settings = api_stream_settings(stream(output="door.mkv"), service(dirs))
        assert settings.config.output == os.path.join(os.path.realpath(dirs["out"]), "door.mkv")

    def test_an_absolute_output_under_output_dir(self, dirs):
        path = str(dirs["out"] / "sub" / "door.mp4")
        settings = api_stream_settings(stream(output=path), service(dirs))
        assert settings.config.output == os.path.realpath(path)

    @pytest.mark.parametrize("where", ["../outside/x.mp4", "sub/../../x.mp4", "/tmp/x.mp4"])
    def test_an_output_outside_output_dir_is_refused(self, dirs, where):
        message = refused(stream(output=where), service(dirs))
        assert message.startswith("request: stream 'cam': output ")
        assert message.endswith("is not under [server] output_dir")

    def test_an_output_through_a_symlink_out_of_output_dir_is_refused(self, dirs):
        (dirs["out"] / "link").symlink_to(dirs["outside"], target_is_directory=True)
        message = refused(stream(output="link/x.mp4"), service(dirs))
        assert "is not under [server] output_dir" in message
        assert str(dirs["outside"]) not in message  # where the link points is not said

    def test_a_symlink_that_stays_under_output_dir_is_followed(self, dirs):
        (dirs["out"] / "day").mkdir()
        (dirs["out"] / "today").symlink_to(dirs["out"] / "day", target_is_directory=True)
        settings = api_stream_settings(stream(output="today/x.mp4"), service(dirs))
        assert settings.config.output == str((dirs["out"] / "day" / "x.mp4").resolve())

    def test_without_output_dir_no_output_is_taken(self, dirs):
        message = refused(stream(output="x.mp4"), service(media_dir=str(dirs["media"])))
        assert "output: a file written through the API must be under [server] output_dir" in message
        assert "set it to allow outputs" in message

    def test_results_are_checked_as_outputs(self, dirs):
        settings = api_stream_settings(stream(results="r.jsonl"), service(dirs))
        assert settings.config.results == os.path.join(os.path.realpath(dirs["out"]), "r.jsonl")
        assert "results '../r.jsonl' is not under" in refused(
            stream(results="../r.jsonl"), service(dirs)
        )
        assert "standard output" in refused(stream(results="-"), service(dirs))

    def test_an_output_of_the_defaults_is_checked_too(self, dirs):
        message = refused(stream(), service(dirs, defaults={"output": "../x.mp4"}))
        assert "output '../x.mp4' is not under [server] output_dir" in message

    def test_display_is_refused(self, dirs):
        assert "a service has no screen" in refused(stream(display=True), service(dirs))
        assert not api_stream_settings(stream(display=False), service(dirs)).config.display

    def test_an_output_name_that_is_not_utf8(self, dirs):
        message = refused(stream(output="a\udc80.mp4"), service(dirs))
        assert "valid UTF-8" in message


class TestProcessors:
    @pytest.fixture
    def modules(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
        """A directory on sys.path with a module whose import leaves a marker file, and a
        harmless one."""
        where = tmp_path / "mods"
        where.mkdir()
        marker = tmp_path / "imported.marker"
        (where / "policy_side_effect.py").write_text(
            f"open({str(marker)!r}, 'w').close()\ndef run(frame):\n    return frame\n",
            encoding="utf-8",
        )
        (where / "policy_harmless.py").write_text(
            "def run(frame):\n    return frame\n", encoding="utf-8"
        )
        monkeypatch.syspath_prepend(str(where))
        yield marker
        for name in ("policy_side_effect", "policy_harmless"):
            sys.modules.pop(name, None)

    def test_os_system_is_refused(self, dirs):
        message = refused(stream(processor="os:system"), service(dirs))
        assert message.startswith(
            "request: stream 'cam': processor 'os:system' is not allowed through the API"
        )

    def test_a_module_not_allowed_is_never_imported(self, dirs, modules):
        for processor in ("policy_side_effect:run", ["edges", "policy_side_effect:run"]):
            message = refused(stream(processor=processor), service(dirs))
            assert "'policy_side_effect:run' is not allowed" in message
        assert not modules.exists()
        assert "policy_side_effect" not in sys.modules

    def test_a_refused_request_imports_nothing_it_would_allow(self, dirs, modules):
        """An allowed processor in a request refused for another reason is not imported."""
        config = service(dirs, api_processors=("policy_side_effect:run",))
        refused(stream(processor="policy_side_effect:run", output="../x.mp4"), config)
        assert not modules.exists() and "policy_side_effect" not in sys.modules
        api_stream_settings(stream(processor="policy_side_effect:run"), config)
        assert modules.exists()  # allowed, and the request good: imported

    def test_api_processors_allow_their_names_and_the_builtins(self, dirs, modules):
        config = service(dirs, api_processors=("policy_harmless:run",))
        settings = api_stream_settings(stream(processor=["policy_harmless:run", "edges"]), config)
        assert settings.processor == ("policy_harmless:run", "edges")
        assert "policy_harmless" in sys.modules
        assert "not allowed" in refused(stream(processor="policy_harmless:other"), config)

    def test_without_api_processors_the_files_own_are_allowed(self, dirs, modules):
        text = f"""
        [defaults]
        processor = "policy_harmless:run"
        [server]
        media_dir = {str(dirs["media"])!r}
        [[stream]]
        name = "door"
        source = 0
        processor = ["samples.custom_processor:pixelate", "edges"]
        """
        config = parse_service_config(text, "cameras.toml")
        assert allowed_processors(config) == {
            *PROCESSOR_NAMES,
            "samples.custom_processor:pixelate",
            "policy_harmless:run",
        }
        settings = api_stream_settings(stream(), config)
        assert settings.processor == ("policy_harmless:run",)  # the file's default
        assert "not allowed" in refused(stream(processor="policy_side_effect:run"), config)
        assert not modules.exists()

    def test_an_allowed_processor_that_does_not_import_is_one_line(self, dirs):
        config = service(dirs, api_processors=("policy_no_such_module:run",))
        message = refused(stream(processor="policy_no_such_module:run"), config)
        assert message.startswith("request: stream 'cam': processor 'policy_no_such_module:run'")
        assert "cannot import module" in message


class TestSources:
    def test_a_file_under_media_dir_is_handed_on_as_its_absolute_path(self, dirs):
        settings = api_stream_settings(stream(source="clip.mp4"), service(dirs))
        assert settings.source == str((dirs["media"] / "clip.mp4").resolve())
        absolute = api_stream_settings(
            stream(source=str(dirs["media"] / "clip.mp4")), service(dirs)
        )
        assert absolute.source == settings.source

    def test_a_missing_file_under_media_dir_is_said_to_be_missing(self, dirs):
        assert "no such file" in refused(stream(source="nope.mp4"), service(dirs))

    @pytest.mark.parametrize("where", ["../outside/secret.mp4", "{outside}/secret.mp4"])
    def test_a_file_outside_media_dir_is_refused(self, dirs, where):
        source = where.format(outside=dirs["outside"])
        message = refused(stream(source=source), service(dirs))
        assert (
            message == f"request: stream 'cam': source {source!r} is not under [server] media_dir"
        )

    def test_a_symlink_out_of_media_dir_is_refused(self, dirs):
        (dirs["media"] / "link.mp4").symlink_to(dirs["outside"] / "secret.mp4")
        assert "is not under [server] media_dir" in refused(
            stream(source="link.mp4"), service(dirs)
        )

    def test_no_word_about_what_lies_outside(self, dirs, tmp_path):
        """A file that is there, one that is not, and a name the system would refuse (too long:
        a lookup would say so) all get the one answer: nothing outside was looked up."""
        there = str(dirs["outside"] / "secret.mp4")
        missing = str(dirs["outside"] / "missing.mp4")
        too_long = str(dirs["outside"] / ("x" * 300 + ".mp4"))
        answers = {
            refused(stream(source=source), service(dirs)).replace(repr(source), "SOURCE")
            for source in (there, missing)
        }
        assert answers == {"request: stream 'cam': source SOURCE is not under [server] media_dir"}
        assert "is not under [server] media_dir" in refused(stream(source=too_long), service(dirs))
        # the same name under media_dir is looked up, and the lookup speaks:
        assert "too long" in refused(stream(source="x" * 300 + ".mp4"), service(dirs))

    def test_a_link_elsewhere_into_media_dir_is_not_followed(self, dirs):
        """``outside/link/clip.mp4``, ``link`` pointing into media_dir, is refused on its form:
        whether something outside media_dir is a symlink is never asked (the answer would
        tell)."""
        (dirs["outside"] / "link").symlink_to(dirs["media"], target_is_directory=True)
        source = str(dirs["outside"] / "link" / "clip.mp4")
        assert "is not under [server] media_dir" in refused(stream(source=source), service(dirs))

    def test_dot_dot_is_taken_by_its_form_and_what_is_read_is_what_was_checked(self, dirs):
        """``media/link/../clip.mp4`` is ``media/clip.mp4``, whatever ``link`` is, and that is
        the path handed on."""
        (dirs["media"] / "link").symlink_to(dirs["outside"], target_is_directory=True)
        settings = api_stream_settings(stream(source="link/../clip.mp4"), service(dirs))
        assert settings.source == str((dirs["media"] / "clip.mp4").resolve())

    def test_without_media_dir_no_file_is_read(self, dirs):
        config = service(output_dir=str(dirs["out"]))
        for source in (str(dirs["media"] / "clip.mp4"), "clip.mp4", "/etc/passwd"):
            message = refused(stream(source=source), config)
            assert message == (
                "request: stream 'cam': source: a file read through the API must be under "
                "[server] media_dir, which is not set (set it to allow files)"
            )

    @pytest.mark.parametrize(
        "source",
        [
            "file:/etc/passwd",
            "file:clip.mp4",
            "FILE:clip.mp4",
            "concat:clip.mp4|/etc/passwd",
            "subfile,,start,0,end,0,,:/etc/passwd",
            "pipe:0",
            "fd:3",
            "http:/not-a-url",
            " file:/etc/passwd",
        ],
    )
    def test_protocol_prefixes_are_refused(self, dirs, source):
        message = refused(stream(source=source), service(dirs))
        assert "names a protocol" in message

    @pytest.mark.parametrize(
        "source",
        [0, 3, "1", "rtsp://10.0.0.5/stream1", "http://127.0.0.1:9/live", "synthetic",
         "synthetic:64x48@10:1"],
    )  # fmt: skip
    def test_cameras_urls_and_the_scene_need_no_media_dir(self, source):
        settings = api_stream_settings(stream(source=source), service())
        assert settings.source == source

    def test_a_bad_source_gets_the_files_words(self, dirs):
        assert refused(stream(source=""), service(dirs)) == (
            "request: stream 'cam': source must not be empty"
        )
        assert "camera index must be >= 0" in refused(stream(source=-1), service(dirs))
        assert "synthetic" in refused(stream(source="synthetic:0x0"), service(dirs))


class TestTheFilesWords:
    def test_a_mistake_reads_as_in_a_file(self, dirs):
        body = {"name": "a", "source": "/etc/passwd", "budgt_ms": 3}
        text = '[[stream]]\nname = "a"\nsource = 0\nbudgt_ms = 3\n'
        with pytest.raises(SettingsError) as in_file:
            parse_service_config(text, "cameras.toml")
        assert str(in_file.value).replace("cameras.toml", "request") == refused(body, service(dirs))

    @pytest.mark.parametrize(
        ("body", "message"),
        [
            (None, "request: stream: must be a table of settings, but got NoneType None"),
            ([1], "request: stream: must be a table of settings, but got list [1]"),
            ({"source": 0}, "request: stream: name is missing"),
            ({"name": "a/b", "source": 0}, "request: stream: stream name must be"),
            ({"name": "a"}, "request: stream 'a': source is missing"),
            ({"name": "a", "source": 0, "loop": True}, "request: stream 'a': loop: 0 is a camera"),
            ({"name": "a", "source": "rtsp://h/x", "camera": {"fps": 5}},
             "request: stream 'a': camera: camera settings are for a camera"),
        ],
    )  # fmt: skip
    def test_forms(self, dirs, body, message):
        assert refused(body, service(dirs)).startswith(message)


class TestToken:
    def test_from_the_file_stripped(self, tmp_path):
        path = tmp_path / "token"
        path.write_text("  s3cret-Token_1\n", encoding="ascii")
        server = ServerSettings(api_token_file=str(path))
        assert load_api_token(server, {TOKEN_ENV: "other"}) == "s3cret-Token_1"

    def test_from_the_environment_without_a_file(self):
        assert load_api_token(ServerSettings(), {TOKEN_ENV: " envtoken\n"}) == "envtoken"

    def test_none_without_either(self):
        assert load_api_token(ServerSettings(), {}) is None
        assert load_api_token(ServerSettings(), {TOKEN_ENV: "  "}) is None

    @pytest.mark.parametrize(
        ("content", "reason"),
        [
            (None, "cannot read the token: No such file or directory"),
            (b"", "the file is empty"),
            (b" \n\n", "the file is empty"),
            (b"two words", "printable ASCII without spaces"),
            (b"line1\nline2\n", "printable ASCII without spaces"),
            ("caf\u00e9".encode(), "printable ASCII"),
            (b"x" * 5000, "more than 4096 bytes"),
        ],
    )
    def test_a_file_without_a_usable_token_is_one_line(self, tmp_path, content, reason):
        path = tmp_path / "token"
        if content is not None:
            path.write_bytes(content)
        with pytest.raises(SettingsError) as caught:
            load_api_token(ServerSettings(api_token_file=str(path)), {}, where="cameras.toml")
        message = str(caught.value)
        assert message.startswith(f"cameras.toml: [server]: api_token_file {path}: ")
        assert reason in message and "\n" not in message
        if content and content.strip():
            assert content.decode("latin-1").strip() not in message  # never the token itself

    def test_a_directory_is_no_token_file(self, tmp_path):
        with pytest.raises(SettingsError, match=r"api_token_file .*: cannot read the token"):
            load_api_token(ServerSettings(api_token_file=str(tmp_path)), {})

    @pytest.mark.parametrize(
        ("token", "warned"),
        [(None, False), ("x" * 15, True), ("x" * 16, False), ("s3cret", True)],
    )
    def test_a_token_short_enough_to_guess_is_warned_about(self, token, warned):
        warning = weak_token(token)
        assert (warning is not None) == warned
        if warning is not None:
            assert f"has {len(token)} characters" in warning and token not in warning
            assert "secrets.token_urlsafe" in warning

    def test_a_bad_token_in_the_environment(self):
        with pytest.raises(SettingsError) as caught:
            load_api_token(ServerSettings(), {TOKEN_ENV: "has space"})
        assert str(caught.value) == f"{TOKEN_ENV} must be printable ASCII without spaces"


# --- random bodies: always a stream or one line ---------------------------------------------

TRICKY = ["0", "synthetic", "synthetic:32x24@5:1", "clip.mp4", "../x.mp4", "file:/etc/passwd",
          "rtsp://h/x", "-", "a.mkv", "edges", "os:system", "concat:a|b", "/etc/passwd",
          "x.jsonl", "\x00", "\udc80"]  # fmt: skip
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from(TRICKY)
)


def _nested(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)


JSON = st.recursive(SCALARS, _nested, max_leaves=12)
STREAMS = st.fixed_dictionaries(
    {"name": st.sampled_from(["cam", "a.b", ""]), "source": JSON},
    optional={key: JSON for key in STREAM_KEYS if key not in ("name", "source")},
)
BODIES = JSON | st.dictionaries(st.sampled_from(STREAM_KEYS), JSON, max_size=6) | STREAMS


@pytest.fixture(scope="module")
def random_service(tmp_path_factory: pytest.TempPathFactory) -> ServiceConfig:
    root = tmp_path_factory.mktemp("random")
    (root / "media").mkdir()
    (root / "out").mkdir()
    (root / "media" / "clip.mp4").write_bytes(SAMPLE.read_bytes())
    return ServiceConfig(
        "cameras.toml",
        (),
        server=ServerSettings(media_dir=str(root / "media"), output_dir=str(root / "out")),
    )


@settings(
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=BODIES)
def test_any_json_value_is_a_stream_or_one_line(random_service, body):
    try:
        outcome: StreamSettings | SettingsError = api_stream_settings(body, random_service)
    except SettingsError as exc:
        outcome = exc
    if isinstance(outcome, SettingsError):
        message = str(outcome)
        assert "\n" not in message and message.startswith("request: stream")
    else:
        assert isinstance(outcome, StreamSettings)
        assert not outcome.config.display
        out = os.path.realpath(str(random_service.server.output_dir))
        for path in (outcome.config.output, outcome.config.results):
            assert path is None or os.fspath(path).startswith(out + os.sep)
