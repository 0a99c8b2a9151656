"""Tests for framepipe.cli._service_api: the service's API over a real running stream set.

One set of real worker processes serves the module (a worker's start costs a fresh
interpreter); each test adds and removes streams of its own names.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from framepipe.cli._service_api import ServiceApi, hide_password
from framepipe.cli._service_config import ServerSettings, ServiceConfig
from framepipe.cli._service_streams import ServiceStreams
from framepipe.monitor.api import ApiAnswer, ApiRequest
from framepipe.pipeline.stream_settings import STREAM_KEYS, stream_settings
from framepipe.streams import StreamsHandle, start_streams
from framepipe.streams.job import LogTarget
from helpers import process_ended, wait_until

SCENE = "synthetic:320x240@30:600"  # paced (realtime): ten minutes unless stopped
SMALL = "synthetic:64x48@30:600"
TOKEN = "t0ken-Of-The-Service_42"
CLIENT = "127.0.0.1:50123"
WAIT_S = 30.0  # workers start in fresh interpreters, on a machine that may be busy
LOGGER = "framepipe.service"

FILE_STREAM = stream_settings(
    {"name": "a", "source": SCENE, "realtime": True, "processor": "none"}, where="cameras.toml"
)


@pytest.fixture(scope="module")
def dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("service")
    made = {name: root / name for name in ("media", "out", "logs")}
    for path in made.values():
        path.mkdir()
    return made


@pytest.fixture(scope="module")
def handle(dirs: dict[str, Path]) -> Iterator[StreamsHandle]:
    """The service's running set: the file's stream ``a``."""
    running = start_streams(
        [FILE_STREAM.source],
        names=[FILE_STREAM.name],
        configs=[FILE_STREAM.config],
        processors=[FILE_STREAM.processor],
        service=True,
        log_target=LogTarget(str(dirs["logs"])),
        logger=logging.getLogger("test.service_api.streams"),
    )
    try:
        yield running
    finally:
        running.close()


@pytest.fixture(scope="module")
def config(dirs: dict[str, Path]) -> ServiceConfig:
    server = ServerSettings(output_dir=str(dirs["out"]), media_dir=str(dirs["media"]))
    return ServiceConfig("cameras.toml", (FILE_STREAM,), server=server)


@pytest.fixture
def api(handle: StreamsHandle, config: ServiceConfig) -> ServiceApi:
    streams = ServiceStreams.from_file(config.streams)
    return ServiceApi(handle, config, TOKEN, logging.getLogger(LOGGER), streams)


def request(
    method: str, path: str, body: Any = None, token: str | None = TOKEN, **fields: Any
) -> ApiRequest:
    authorization = None if token is None else f"Bearer {token}"
    values = {"authorization": authorization, "client": CLIENT, **fields}
    return ApiRequest(method, path, body, **values)


def small(name: str, **keys: Any) -> dict[str, Any]:
    return {"name": name, "source": SMALL, "realtime": True, "processor": "none", **keys}


def headers(answer: ApiAnswer) -> dict[str, str]:
    return dict(answer.headers)


def records(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno == level]


class TestReads:
    def test_the_list_has_every_stream_with_its_settings_origin_and_state(self, api):
        answer = api(request("GET", "/streams", token=None))
        assert answer.status == 200
        (only,) = [s for s in answer.document["streams"] if s["name"] == "a"]
        assert only["origin"] == "file"
        assert only["settings"] == FILE_STREAM.to_dict()
        assert only["state"]["name"] == "a" and only["state"]["source"] == SCENE
        assert only["state"]["state"] in ("starting", "running")

    def test_one_stream_and_an_unknown_one(self, api):
        answer = api(request("GET", "/streams/a", token=None))
        assert answer.status == 200 and answer.document["name"] == "a"
        missing = api(request("GET", "/streams/nope", token=None))
        assert missing.status == 404 and missing.document == {"error": "no stream named nope"}

    def test_head_answers_as_get(self, api):
        for path, status in (("/streams", 200), ("/streams/a", 200), ("/streams/nope", 404)):
            head, get = api(request("HEAD", path)), api(request("GET", path))
            assert head.status == get.status == status
            assert head.headers == get.headers

    def test_reads_need_no_token_even_when_none_is_set(self, handle, config):
        api = ServiceApi(handle, config, None, logging.getLogger(LOGGER), ServiceStreams())
        assert api(request("GET", "/streams", token=None)).status == 200


class TestMethodsAndPaths:
    @pytest.mark.parametrize(
        ("method", "path", "allow"),
        [
            ("PUT", "/streams", "GET, HEAD, POST"),
            ("DELETE", "/streams", "GET, HEAD, POST"),
            ("POST", "/streams/a", "GET, HEAD, DELETE"),
            ("PATCH", "/streams/a", "GET, HEAD, DELETE"),
            ("GET", "/streams/a/restart", "POST"),
            ("DELETE", "/streams/a/restart", "POST"),
        ],
    )
    def test_another_method_is_405_with_allow(self, api, method, path, allow):
        answer = api(request(method, path))
        assert answer.status == 405 and headers(answer) == {"Allow": allow}
        assert "\n" not in answer.document["error"]

    @pytest.mark.parametrize(
        "path", ["/", "/stream", "/streams/", "/streams/a/b", "/streams/a/restart/x", "/other"]
    )
    def test_other_paths_are_404(self, api, path):
        for method in ("GET", "POST", "DELETE"):
            assert api(request(method, path)).status == 404


class TestTheToken:
    def test_no_token_configured_is_403_saying_how_to_set_one(self, handle, config, caplog):
        api = ServiceApi(handle, config, None, logging.getLogger(LOGGER), ServiceStreams())
        caplog.set_level(logging.INFO, LOGGER)
        for change in (request("POST", "/streams", small("x")), request("DELETE", "/streams/a"),
                       request("POST", "/streams/a/restart")):  # fmt: skip
            answer = api(change)
            assert answer.status == 403
            assert "[server] api_token_file" in answer.document["error"]
            assert "FRAMEPIPE_API_TOKEN" in answer.document["error"]
        assert len(records(caplog, logging.WARNING)) == 3
        assert "x" not in handle.streams

    @pytest.mark.parametrize(
        ("authorization", "invalid"),
        [
            (None, False),
            ("", False),
            ("Bearer", False),
            ("Basic dXNlcjpwYXNz", False),
            ("Bearer wrong", True),
            (f"Bearer {TOKEN}x", True),
            (f"Bearer {TOKEN[:-1]}", True),
            ("Bearer caf\u00e9\udc80", True),
        ],
    )
    def test_a_missing_or_wrong_token_is_401(self, api, caplog, authorization, invalid):
        caplog.set_level(logging.INFO, LOGGER)
        answer = api(request("DELETE", "/streams/a", token=None, authorization=authorization))
        assert answer.status == 401
        challenge = headers(answer)["WWW-Authenticate"]
        assert challenge.startswith("Bearer ") and ('error="invalid_token"' in challenge) == invalid
        (line,) = records(caplog, logging.WARNING)
        assert line.startswith("api: refused DELETE /streams/a from 127.0.0.1:50123: 401 ")
        assert api(request("GET", "/streams/a")).status == 200  # still there

    def test_the_scheme_is_case_blind(self, api):
        answer = api(request("POST", "/streams/nope/restart", token=None,
                             authorization=f"bearer  {TOKEN} "))  # fmt: skip
        assert answer.status == 404  # past the token

    def test_auth_comes_before_the_body(self, api):
        """A bad body without the token is 401, never 400: nothing is said about the body."""
        for body in (None, "x", {"name": "../x"}, small("q", output="/etc/x.mp4")):
            assert api(request("POST", "/streams", body, token="nope")).status == 401
            assert api(request("POST", "/streams", body, token=None)).status == 401

    def test_reconfigure_takes_a_new_token(self, api, config):
        api.reconfigure(config, "new-token")
        assert api(request("POST", "/streams/nope/restart")).status == 401
        assert api(request("POST", "/streams/nope/restart", token="new-token")).status == 404

    def test_the_token_is_never_logged(self, api, caplog):
        """Not as a header, nor where a client put it in a body that is echoed back."""
        caplog.set_level(logging.DEBUG)
        api(request("DELETE", "/streams/a", token=f"{TOKEN}-not"))
        answer = api(request("POST", "/streams", {"name": "k", "source": 0, TOKEN: 1}))
        assert answer.status == 400 and TOKEN in answer.document["error"]  # the client's own
        api(request("POST", "/streams", {"name": TOKEN, "source": "/etc/passwd"}))
        assert caplog.records
        assert TOKEN not in caplog.text
        assert "***" in caplog.text


class TestChanges:
    def test_add_list_and_remove_a_stream(self, api, handle, dirs, caplog):
        """201 with Location and the stream; it runs beside the file's, its output under
        output_dir; DELETE answers 204 once its worker has ended and its output is closed."""
        caplog.set_level(logging.INFO, LOGGER)
        answer = api(request("POST", "/streams", small("b", output="b.mkv")))
        assert answer.status == 201, answer.document
        assert headers(answer) == {"Location": "/streams/b"}
        created = answer.document
        assert created["name"] == "b" and created["origin"] == "api"
        output = str((dirs["out"] / "b.mkv").resolve())
        assert created["settings"]["output"] == output
        assert created["state"]["pid"] and created["state"]["name"] == "b"
        listed = api(request("GET", "/streams")).document["streams"]
        assert [s["name"] for s in listed][:2] == ["a", "b"]
        assert [s["origin"] for s in listed][:2] == ["file", "api"]
        wait_until(lambda: handle.streams["b"].snapshot().frames_processed >= 5, "frames on b",
                   timeout=WAIT_S)  # fmt: skip
        removed = api(request("DELETE", "/streams/b"))
        assert removed == ApiAnswer(204)
        assert process_ended(created["state"]["pid"])
        assert "b" not in handle.streams
        assert api(request("GET", "/streams/b")).status == 404
        capture = cv2.VideoCapture(output)
        try:
            assert capture.isOpened() and capture.read()[0]  # a whole file: closed
        finally:
            capture.release()
        added, gone = records(caplog, logging.INFO)
        assert added == (
            f"api: {CLIENT} added stream 'b' (source {SMALL}, processor none, output {output})"
        )
        assert gone.startswith(f"api: {CLIENT} removed stream 'b' (source {SMALL}")

    def test_a_name_in_use_is_409(self, api, caplog):
        caplog.set_level(logging.INFO, LOGGER)
        answer = api(request("POST", "/streams", small("a")))
        assert answer.status == 409
        assert answer.document == {"error": "a stream named 'a' is in the service already"}
        (line,) = records(caplog, logging.WARNING)
        assert line == (
            f"api: refused POST /streams from {CLIENT}: 409 a stream named 'a' is in the "
            "service already"
        )

    def test_a_name_the_set_has_but_the_record_not_is_409_too(self, handle, config):
        """The set is asked as well: a stream started without a record is not replaced."""
        api = ServiceApi(handle, config, TOKEN, logging.getLogger(LOGGER), ServiceStreams())
        answer = api(request("POST", "/streams", small("a")))
        assert answer.status == 409 and "a" in answer.document["error"]

    def test_an_output_another_stream_writes_is_409(self, api):
        first = api(request("POST", "/streams", small("c", output="shared.mkv")))
        assert first.status == 201
        try:
            second = api(request("POST", "/streams", small("d", output="shared.mkv")))
            assert second.status == 409 and "written by stream 'c'" in second.document["error"]
        finally:
            assert api(request("DELETE", "/streams/c")).status == 204

    def test_the_api_adds_no_stream_beyond_api_max_streams(self, handle, config, caplog):
        """The file's stream counts; at the limit a POST is 409 saying so, and a removal makes
        room again."""
        caplog.set_level(logging.INFO, LOGGER)
        server = dataclasses.replace(config.server, api_max_streams=2)
        limited = dataclasses.replace(config, server=server)
        api = ServiceApi(handle, limited, TOKEN, logging.getLogger(LOGGER),
                         ServiceStreams.from_file(limited.streams))  # fmt: skip
        assert api(request("POST", "/streams", small("m1"))).status == 201
        try:
            refused = api(request("POST", "/streams", small("m2")))
            assert refused.status == 409
            assert refused.document == {
                "error": "the service runs 2 streams, and the API adds none beyond 2 "
                "([server] api_max_streams)"
            }
            listed = api(request("GET", "/streams")).document["streams"]
            assert "m2" not in [stream["name"] for stream in listed]
            assert records(caplog, logging.WARNING)[-1].startswith(
                f"api: refused POST /streams from {CLIENT}: 409 the service runs 2 streams"
            )
        finally:
            assert api(request("DELETE", "/streams/m1")).status == 204
        assert api(request("POST", "/streams", small("m2"))).status == 201
        assert api(request("DELETE", "/streams/m2")).status == 204

    @pytest.mark.parametrize(
        ("body", "words"),
        [
            (None, "must be a table of settings"),
            ([], "must be a table of settings"),
            ({"name": "e"}, "source is missing"),
            (small("e", output="../e.mkv"), "is not under [server] output_dir"),
            (small("e", source="/etc/passwd"), "is not under [server] media_dir"),
            (small("e", source="file:/etc/passwd"), "names a protocol"),
            (small("e", processor="os:system"), "'os:system' is not allowed"),
            (small("e", display=True), "no screen"),
            (small("e", budget_ms=-1), "budget_ms must be positive"),
            (small("e", results="missing/e.jsonl"), "missing does not exist"),
        ],
    )
    def test_a_bad_body_is_400_in_one_line(self, api, caplog, body, words):
        caplog.set_level(logging.INFO, LOGGER)
        answer = api(request("POST", "/streams", body))
        assert answer.status == 400 and words in answer.document["error"]
        assert "\n" not in answer.document["error"]
        (line,) = records(caplog, logging.WARNING)
        assert line.startswith(f"api: refused POST /streams from {CLIENT}: 400 request: stream")
        assert not records(caplog, logging.INFO)

    def test_restart(self, api, handle, caplog):
        caplog.set_level(logging.INFO, LOGGER)
        before = handle.streams["a"].pid
        answer = api(request("POST", "/streams/a/restart"))
        assert answer.status == 200
        assert answer.document["name"] == "a" and answer.document["origin"] == "file"
        assert answer.document["state"]["pid"] not in (None, before)
        assert records(caplog, logging.INFO) == [f"api: {CLIENT} restarted stream 'a'"]

    def test_unknown_streams_are_404_to_changes(self, api, caplog):
        caplog.set_level(logging.INFO, LOGGER)
        assert api(request("POST", "/streams/nope/restart")).status == 404
        assert api(request("DELETE", "/streams/nope")).status == 404
        assert len(records(caplog, logging.WARNING)) == 2

    def test_a_url_password_is_never_shown_nor_logged(self, api, caplog):
        """Not in the settings, nor the state, nor its error once the stream has failed (the
        address refuses: with no reconnect it ends at once)."""
        caplog.set_level(logging.INFO, LOGGER)
        url = "rtsp://viewer:hunter2@127.0.0.1:9/live"
        body = {"name": "pw", "source": url, "reconnect_attempts": 0, "open_timeout_s": 1}
        answer = api(request("POST", "/streams", body))
        assert answer.status == 201, answer.document
        try:

            def failed() -> dict[str, Any] | None:
                shown: dict[str, Any] = api(request("GET", "/streams/pw")).document
                return shown if shown["state"]["error"] else None

            ended = wait_until(failed, "the stream's error", timeout=WAIT_S)
            assert ended["settings"]["source"] == "rtsp://viewer:***@127.0.0.1:9/live"
            assert ended["state"]["source"] == "rtsp://viewer:***@127.0.0.1:9/live"
            assert "rtsp://viewer:***@127.0.0.1:9/live" in ended["state"]["error"]
            assert "hunter2" not in str(ended)
        finally:
            assert api(request("DELETE", "/streams/pw")).status == 204
        lines = records(caplog, logging.INFO)
        assert len(lines) == 2
        assert all("hunter2" not in line and "viewer:***@" in line for line in lines)


class TestAClosedSet:
    def test_a_set_that_takes_no_more_changes_is_503(self, dirs, config):
        closed = start_streams(["synthetic:64x48@30:1"], names=["z"], service=True,
                               log_target=LogTarget(str(dirs["logs"])),
                               logger=logging.getLogger("test.service_api.streams"))  # fmt: skip
        closed.close()
        api = ServiceApi(closed, config, TOKEN, logging.getLogger(LOGGER), ServiceStreams())
        assert api(request("GET", "/streams")).status == 503
        answer = api(request("POST", "/streams", small("y")))
        assert answer.status == 503 and "\n" not in answer.document["error"]
        assert api(request("DELETE", "/streams/z")).status == 503
        assert api(request("POST", "/streams", small("y"))).status == 503  # its claim released


def test_hide_password():
    assert hide_password("rtsp://u:p@h/x") == "rtsp://u:***@h/x"
    assert hide_password("rtsp://u@h/x") == "rtsp://u@h/x"
    assert hide_password("http://h/x?a=b@c") == "http://h/x?a=b@c"
    assert hide_password("rtsp://:p@h") == "rtsp://:***@h"
    assert hide_password(3) == 3 and hide_password("clip.mp4") == "clip.mp4"
    assert hide_password("stream rtsp://u:p@h/x is unreachable") == (
        "stream rtsp://u:***@h/x is unreachable"
    )


# --- random bodies: always a 4xx or a 201, never a 500 --------------------------------------

TRICKY = [SMALL, "synthetic:32x24@5:1", "../x.mkv", "x.mkv", "file:/etc/passwd", "/etc/passwd",
          "edges", "os:system", "-", "x.jsonl"]  # fmt: skip
SOURCES = [SMALL, "synthetic:32x24@5:1", "clip.mp4", "file:/etc/passwd", "/etc/passwd", -1]
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-5, 2**70)
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(TRICKY)
)
JSON = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner),
    max_leaves=8,
)  # fmt: skip
NEARLY = st.fixed_dictionaries(  # mostly a stream that runs, or one key away from it
    {
        "name": st.sampled_from(["r1", "r2", "a", "", "../r"]),
        "source": st.sampled_from(SOURCES),
    },
    optional={
        "output": st.sampled_from(["r.mkv", "../r.mkv", "/etc/r.mp4", "r.gif", 3]),
        "processor": st.sampled_from(["none", ["edges", "blur"], "os:system", [], "x y"]),
        "realtime": st.booleans(),
        "display": st.booleans(),
        "budget_ms": SCALARS,
    },
)
BODIES = (
    JSON
    | st.dictionaries(st.sampled_from(STREAM_KEYS), JSON, max_size=5)
    | st.fixed_dictionaries(
        {"name": st.sampled_from(["r1", "r2", "a", ""]), "source": SCALARS},
        optional={key: SCALARS for key in ("output", "processor", "realtime", "display")},
    )
    | NEARLY
)


@settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=BODIES)
def test_any_body_is_a_4xx_or_a_201(api, body):
    answer = api(request("POST", "/streams", body))
    event(f"status {answer.status}")
    assert answer.status == 201 or 400 <= answer.status < 500, answer
    if answer.status == 201:
        removed = api(request("DELETE", f"/streams/{answer.document['name']}"))
        assert removed == ApiAnswer(204)
    else:
        assert "\n" not in answer.document["error"]
