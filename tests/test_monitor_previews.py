"""Per-stream previews: ``/streams/NAME/frame.jpg`` and ``/streams/NAME/stream.mjpg`` of a
several-stream run, from JPEGs its workers encode only while someone watches."""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from framepipe.streams._messages import Preview, WorkerMessage
from framepipe.streams._preview import PREVIEW_WANTED_S, PreviewSender
from helpers import ManualClock, wait_until

FRAMEPIPE = str(Path(sys.executable).with_name("framepipe"))


class Outbox:
    def __init__(self) -> None:
        self.sent: list[WorkerMessage] = []

    def send(self, message: WorkerMessage) -> bool:
        self.sent.append(message)
        return True


def frame(value: int) -> np.ndarray:
    return np.full((24, 32, 3), value, dtype=np.uint8)


class TestPreviewSender:
    def test_nothing_is_encoded_or_sent_until_someone_watches(self) -> None:
        clock, outbox = ManualClock(), Outbox()
        sender = PreviewSender(clock)
        for value in range(10):
            sender.tick(frame(value), outbox)
            clock.advance(0.1)
        assert outbox.sent == []

    def test_while_watched_at_most_4_a_second_then_nothing_once_the_watcher_left(self) -> None:
        """A new frame every 10 ms for 2 s of watching gives 8 or 9 JPEGs, then none."""
        clock, outbox = ManualClock(), Outbox()
        sender = PreviewSender(clock)
        sender.want()
        for value in range(400):
            sender.tick(frame(value % 256), outbox)
            clock.advance(0.01)
        previews = [m for m in outbox.sent if isinstance(m, Preview)]
        assert 4 * PREVIEW_WANTED_S <= len(previews) <= 4 * PREVIEW_WANTED_S + 1
        assert all(p.jpeg is not None and p.jpeg[:2] == b"\xff\xd8" for p in previews)

    def test_a_frame_that_is_no_image_is_sent_as_its_reason_once(self) -> None:
        clock, outbox = ManualClock(), Outbox()
        sender = PreviewSender(clock)
        sender.want()
        bad = np.zeros((4, 4, 5), dtype=np.uint8)
        for _ in range(5):
            sender.tick(bad, outbox)
            clock.advance(0.3)
        assert len(outbox.sent) == 1
        (message,) = outbox.sent
        assert isinstance(message, Preview) and message.jpeg is None
        assert message.error is not None and "channels" in message.error


@pytest.fixture(scope="module")
def two_streams(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``framepipe run`` of two synthetic streams in real time; the stats URL."""
    logs = tmp_path_factory.mktemp("logs")
    process = subprocess.Popen(
        [FRAMEPIPE, "run", "synthetic:64x48@30:60", "synthetic:80x60@30:60", "--realtime",
         "--quiet", "--name", "left", "--name", "right", "--stats-port", "0",
         "--log-dir", str(logs)],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert process.stderr is not None
        url = next(
            match.group(1)
            for line in process.stderr
            if (match := re.search(r"stats server on (http://\S+/)", line))
        )
        yield url
    finally:
        process.terminate()
        process.wait(30)
        if process.stderr is not None:
            process.stderr.close()


def _processed(url: str, name: str) -> int:
    _, body = get(url + "system-resources")
    streams = json.loads(body).get("streams", [])
    return next((s["frames_processed"] for s in streams if s["stream"] == name), 0)


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=15) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read()


class TestSeveralStreams:
    @pytest.mark.parametrize(("name", "width"), [("left", 64), ("right", 80)])
    def test_each_stream_has_its_own_frame(self, two_streams: str, name: str, width: int) -> None:
        """Once the stream has frames, a request waits for the worker's first JPEG (it encodes
        none before); the picture is that stream's own."""
        url = f"{two_streams}streams/{name}/frame.jpg"
        wait_until(lambda: _processed(two_streams, name) > 0, "the stream's first frames", 60)
        status, body = get(url)
        assert status == 200, body[:200]
        image = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
        assert image.shape[1] == width

    def test_a_streams_mjpeg_sends_frames(self, two_streams: str) -> None:
        host, port = urllib.request.urlparse(two_streams).netloc.split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=15)
        try:
            connection.request("GET", "/streams/right/stream.mjpg")
            reply = connection.getresponse()
            assert reply.status == 200
            assert reply.getheader("Content-Type", "").startswith("multipart/x-mixed-replace")
            data = b""
            while data.count(b"\xff\xd9") < 2:  # two whole JPEGs
                chunk = reply.read1(65536)
                assert chunk, "the stream ended"
                data += chunk
        finally:
            connection.close()
        assert data.startswith(b"--framepipe-frame\r\nContent-Type: image/jpeg")

    @pytest.mark.parametrize("path", ["frame.jpg", "stream.mjpg"])
    def test_the_single_urls_answer_404_naming_the_per_stream_ones(
        self, two_streams: str, path: str
    ) -> None:
        status, body = get(two_streams + path)
        assert status == 404
        document = json.loads(body)
        assert f"/streams/left/{path}" in document["previews"]
        assert "/streams/NAME/frame.jpg" in document["error"]

    def test_an_unknown_stream_is_404_naming_the_streams(self, two_streams: str) -> None:
        status, body = get(f"{two_streams}streams/nobody/frame.jpg")
        assert status == 404
        assert json.loads(body)["streams"] == ["left", "right"]


@pytest.mark.local_ray
def test_a_ray_actors_stream_has_its_preview_and_histograms(tmp_path: Path) -> None:
    """``--engine ray``: the actor sends previews while watched, and its bucket counts."""
    pytest.importorskip("ray")
    process = subprocess.Popen(
        [FRAMEPIPE, "run", "synthetic:64x48@30:120", "synthetic:80x60@30:120", "--realtime",
         "--quiet", "--engine", "ray", "--name", "left", "--name", "right",
         "--stats-port", "0", "--log-dir", str(tmp_path / "logs")],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert process.stderr is not None
        url = next(
            match.group(1)
            for line in process.stderr
            if (match := re.search(r"stats server on (http://\S+/)", line))
        )
        wait_until(lambda: _processed(url, "right") > 0, "the actor's first frames", 120)
        status, body = get(f"{url}streams/right/frame.jpg")
        if status != 200:  # the first ask reaches the actor after its short wait ran out
            wait_until(
                lambda: get(f"{url}streams/right/frame.jpg")[0] == 200, "a preview", 30
            )
            status, body = get(f"{url}streams/right/frame.jpg")
        image = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
        assert image.shape[1] == 80
        _, metrics = get(url + "metrics")
        assert b'framepipe_frame_seconds_bucket{le="+Inf",stream="right"}' in metrics
    finally:
        process.terminate()
        process.wait(60)
        if process.stderr is not None:
            process.stderr.close()
