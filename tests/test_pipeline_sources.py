"""Tests for framepipe.pipeline.sources: parsing specs and opening real sources."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from framepipe._camera import CameraReading, CameraSettings
from framepipe.pipeline.sources import (
    Frame,
    OpenCancelled,
    Source,
    SourceError,
    SourceInfo,
    SourceSpec,
    open_source,
    parse_source,
    request_camera_settings,
)
from framepipe.pipeline.synthetic import SyntheticScene
from helpers import refused_port
from streams import StreamServer
from video_files import write_mpegts, write_vfr_mkv, write_video

SAMPLE = Path(__file__).resolve().parent.parent / "samples" / "sample.mp4"


class TestParseSource:
    @pytest.mark.parametrize(
        ("spec", "kind", "target"),
        [
            (0, "camera", 0),  # an int is a camera index
            ("2", "camera", 2),  # so is a digit string
            ("rtsp://cam.local/stream", "stream", "rtsp://cam.local/stream"),
            ("HTTP://example.com/live.m3u8", "stream", "HTTP://example.com/live.m3u8"),
            ("tcp://127.0.0.1:5000", "stream", "tcp://127.0.0.1:5000"),
            ("udp://@:1234", "stream", "udp://@:1234"),
            ("synthetic", "synthetic", SyntheticScene()),
            ("synthetic:320x240@15:2", "synthetic", SyntheticScene(320, 240, 15.0, 2.0)),
            (None, "synthetic", SyntheticScene()),  # omitted: the default scene
        ],
    )
    def test_classifies_each_kind_of_spec(self, spec: str | int | None, kind: str, target: object):
        """Camera indices, URLs and synthetic specs are recognised without opening anything."""
        assert parse_source(spec) == SourceSpec(kind, target)  # type: ignore[arg-type]

    def test_an_existing_path_is_a_file(self, tmp_path: Path):
        """A path that exists is a file source, whatever its name looks like."""
        path = tmp_path / "clip.avi"
        path.write_bytes(b"x")
        assert parse_source(str(path)) == SourceSpec("file", str(path))

    def test_live_kinds_are_camera_and_stream(self):
        """Only cameras and streams are live; the drop policy default depends on it."""
        assert parse_source(0).is_live
        assert parse_source("tcp://127.0.0.1:1").is_live
        assert not parse_source("synthetic").is_live

    @pytest.mark.parametrize(
        ("spec", "message"),
        [
            ("no/such/clip.mp4", "no such file: no/such/clip.mp4"),
            ("synthetic:640x480", "synthetic source must be"),  # fps and length missing
            ("synthetic:0x480@30:1", "scene size must be at least 16x16"),
            ("synthetic:64x48@0:1", "scene fps must be positive"),
            ("synthetic:64x48@30:0", "scene length must be positive"),
            (-1, "camera index must be >= 0"),
            ("", "source must not be empty"),
        ],
    )
    def test_rejects_bad_specs_with_a_one_line_message(self, spec: str | int, message: str):
        """Each bad spec raises SourceError whose text is one line naming the problem."""
        with pytest.raises(SourceError) as caught:
            parse_source(spec)
        assert message in str(caught.value)
        assert "\n" not in str(caught.value)

    def test_rejects_a_directory(self, tmp_path: Path):
        """A directory is not a video file."""
        with pytest.raises(SourceError, match="not a video file"):
            parse_source(str(tmp_path))


class TestSyntheticSource:
    def test_yields_the_scene_frame_count_then_none(self):
        """A 2-second scene at 10 FPS yields 20 frames of the requested size, then end of stream."""
        with open_source("synthetic:64x48@10:2") as source:
            frames = []
            while (frame := source.read()) is not None:
                frames.append(frame)
        assert len(frames) == 20
        assert frames[0].shape == (48, 64, 3)
        assert frames[0].dtype == np.uint8
        assert source.info == SourceInfo(
            "synthetic:64x48@10:2", "synthetic", 10.0, 64, 48, 20, False
        )

    def test_is_deterministic_and_moves(self):
        """Two sources give identical frames, and consecutive frames differ (the shapes move)."""
        with open_source("synthetic:96x64@30:1") as one, open_source("synthetic:96x64@30:1") as two:
            a0, a1 = one.read(), one.read()
            b0 = two.read()
        assert a0 is not None
        assert a1 is not None
        assert b0 is not None
        assert np.array_equal(a0, b0)
        assert not np.array_equal(a0, a1)

    def test_default_scene_is_720p_30fps_300_frames(self):
        """No spec at all is the documented default scene."""
        with open_source(None) as source:
            assert (source.info.width, source.info.height) == (1280, 720)
            assert source.info.fps == 30.0
            assert source.info.frame_count == 300

    def test_each_frame_is_timestamped_by_its_index_over_the_rate(self):
        """Frame i of the scene is at i / fps; before the first read there is no timestamp."""
        source = open_source("synthetic:32x32@20:0.2")
        assert source.timestamp_s is None
        timestamps = []
        while source.read() is not None:
            timestamps.append(source.timestamp_s)
        assert timestamps == [0.0, 0.05, 0.1, 0.15]

    def test_read_after_release_is_end_of_stream(self):
        """A released source reads as ended instead of raising."""
        source = open_source("synthetic:32x32@10:1")
        source.release()
        source.release()  # idempotent
        assert source.read() is None


class TestFileSource:
    def test_reads_every_frame_of_a_real_file(self, tmp_path: Path):
        """A 25-frame AVI written by OpenCV decodes to 25 frames with its size and FPS."""
        path = write_video(tmp_path / "clip.avi", frames=25, width=80, height=60, fps=25.0)
        with open_source(str(path)) as source:
            count = 0
            while source.read() is not None:
                count += 1
            info = source.info
        assert count == 25
        assert info == SourceInfo("clip.avi", "file", 25.0, 80, 60, 25, False)

    def test_a_complete_variable_frame_rate_mkv_is_not_cut_off(self, tmp_path: Path):
        """Matroska's frame count is an estimate (58 for these 40 frames): the file is complete,
        and each frame carries its own timestamp, 1/30 s apart and then 0.1 s apart."""
        with open_source(str(write_vfr_mkv(tmp_path / "vfr.mkv"))) as source:
            timestamps = []
            while source.read() is not None:
                timestamps.append(source.timestamp_s)
            info = source.info
        assert (info.frame_count, len(timestamps)) == (58, 40)
        assert not info.cut_off
        assert timestamps == pytest.approx(
            [i / 30 for i in range(30)] + [1 + i / 10 for i in range(10)], abs=0.001
        )

    @pytest.mark.parametrize("suffix", [".avi", ".mkv"])
    def test_a_file_cut_in_half_is_cut_off(self, tmp_path: Path, suffix: str):
        """A file shorter than its container declares opens, decodes as far as it goes, and says
        it was cut off."""
        data = write_video(tmp_path / f"clip{suffix}", frames=60).read_bytes()
        half = tmp_path / f"half{suffix}"
        half.write_bytes(data[: len(data) // 2])
        with open_source(str(half)) as source:
            assert source.info.cut_off
            assert source.read() is not None

    def test_rejects_a_file_that_is_not_a_video(self, tmp_path: Path):
        """Text with a video extension fails with a clear message, not an OpenCV trace."""
        path = tmp_path / "notes.mp4"
        path.write_text("this is not a video\n")
        with pytest.raises(SourceError, match=r"^not a video file: .*notes\.mp4"):
            open_source(str(path))


class TestCameraSource:
    def test_a_camera_index_that_does_not_open_is_a_source_error(self):
        """Camera 97 does not exist on any test machine: SourceError, quickly."""
        with pytest.raises(SourceError, match="camera 97 does not open"):
            open_source(97)


@pytest.fixture
def silent_listener() -> Iterator[int]:
    """A TCP port that accepts connections but never sends a byte (a hung server)."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    try:
        yield server.getsockname()[1]
    finally:
        server.close()


class TestStreamSource:
    def test_an_unreachable_url_fails_within_the_open_timeout(self):
        """Nothing listens on the port: SourceError naming the URL, well inside the timeout."""
        with refused_port() as port:
            url = f"tcp://127.0.0.1:{port}"
            started = time.monotonic()
            with pytest.raises(SourceError, match=f"stream {url} is unreachable"):
                open_source(url, open_timeout_s=5.0)
            assert time.monotonic() - started < 5.0

    def test_a_server_that_never_answers_is_bounded_by_the_open_timeout(self, silent_listener: int):
        """A connection that stays silent ends in SourceError after about the timeout, no hang."""
        url = f"tcp://127.0.0.1:{silent_listener}"
        outcome: list[BaseException] = []

        def attempt() -> None:
            try:
                open_source(url, open_timeout_s=1.0)
            except BaseException as exc:
                outcome.append(exc)

        thread = threading.Thread(target=attempt, daemon=True)
        thread.start()
        thread.join(15.0)
        assert not thread.is_alive(), "open_source hung past its timeout"
        assert len(outcome) == 1
        assert isinstance(outcome[0], SourceError)

    def test_cancelling_ends_a_hung_open_at_once(self, silent_listener: int):
        """``cancelled`` turning true stops the wait for a silent server long before the
        timeout, with OpenCancelled (a SourceError)."""
        cancel = threading.Event()
        outcome: list[BaseException] = []

        def attempt() -> None:
            try:
                open_source(f"tcp://127.0.0.1:{silent_listener}", cancelled=cancel.is_set)
            except BaseException as exc:
                outcome.append(exc)

        thread = threading.Thread(target=attempt, daemon=True)
        thread.start()
        time.sleep(0.3)  # the open is under way
        cancel.set()
        started = time.monotonic()
        thread.join(15.0)
        assert not thread.is_alive(), "the cancelled open kept waiting"
        assert time.monotonic() - started < 5.0  # the open timeout is 10 s
        assert len(outcome) == 1
        assert isinstance(outcome[0], OpenCancelled)
        assert str(outcome[0]) == f"stopped while opening stream tcp://127.0.0.1:{silent_listener}"

    def test_a_capture_that_opens_after_cancelling_is_released(self, tmp_path: Path):
        """A server that answers only after the caller gave up: the capture that then opens in
        the background is released, so its connection closes instead of lingering."""
        clip = write_mpegts(tmp_path / "clip.ts").read_bytes()
        cancel = threading.Event()
        closed: list[bool] = []
        with socket.socket() as server:
            server.bind(("127.0.0.1", 0))
            server.listen(2)
            server.settimeout(30)
            url = f"tcp://127.0.0.1:{server.getsockname()[1]}"

            def serve(wait_for: threading.Event | None) -> None:
                connection, _ = server.accept()
                with connection:
                    if wait_for is not None:
                        wait_for.wait(30)  # answer only once the caller has given up
                    connection.sendall(clip)
                    connection.shutdown(socket.SHUT_WR)
                    connection.settimeout(30)
                    try:
                        closed.append(connection.recv(1) == b"")
                    except ConnectionResetError:
                        closed.append(True)

            # The same answer, given at once, opens: the server really serves a stream.
            server_thread = threading.Thread(target=serve, args=(None,), daemon=True)
            server_thread.start()
            with open_source(url) as source:
                assert source.read() is not None
            server_thread.join(30)
            assert closed == [True]

            def give_up() -> bool:
                cancel.set()  # the server may answer now
                return True

            server_thread = threading.Thread(target=serve, args=(cancel,), daemon=True)
            server_thread.start()
            with pytest.raises(OpenCancelled) as raised:  # kept: it must not keep the capture
                open_source(url, cancelled=give_up)
            server_thread.join(30)  # the capture opened in the background and was released
            assert not server_thread.is_alive()
            assert closed == [True, True]
            assert raised.value is not None

    def test_open_timeout_must_be_positive(self):
        """A zero timeout is a programming error: ValueError with expected-versus-actual text."""
        with pytest.raises(ValueError, match="open_timeout_s must be positive, but got 0"):
            open_source("synthetic", open_timeout_s=0)


class CameraNamed(Source):
    """What an opened camera looks like once its device is gone: no frame left to read."""

    def __init__(self, index: str) -> None:
        self.info = SourceInfo(index, "camera", 30.0, 8, 8, None, True)

    def read(self) -> Frame | None:
        return None

    def release(self) -> None:
        pass


class TestReopen:
    def test_a_stream_reopens_by_its_url_with_its_own_timestamps(self):
        """A stream's frames carry the stream's timestamps, and ``reopen()`` connects again."""
        with StreamServer() as server:
            first = open_source(server.url, open_timeout_s=5.0, read_timeout_s=2.0)
            try:
                assert first.read() is not None and first.read() is not None
                assert first.timestamp_s is not None and first.timestamp_s > 0
            finally:
                first.release()
            server.start()  # one client per server: a fresh one for the second connection
            again = first.reopen(open_timeout_s=5.0, read_timeout_s=2.0)
            try:
                assert again.info.name == server.url
                assert again.read() is not None
            finally:
                again.release()

    def test_a_camera_that_is_gone_does_not_reopen(self):
        """Reopening camera 97 (unplugged) is the same one-line SourceError as opening it."""
        camera = CameraNamed("97")
        with pytest.raises(SourceError, match=r"^camera 97 does not open"):
            camera.reopen(open_timeout_s=2.0)

    def test_a_file_is_never_reopened(self, tmp_path: Path):
        """A file's end is the end: reopening it is refused."""
        source = open_source(str(write_video(tmp_path / "clip.avi", frames=3)))
        try:
            with pytest.raises(SourceError, match=r"clip\.avi cannot be reopened"):
                source.reopen()
        finally:
            source.release()


class TestRewind:
    def test_a_file_goes_back_to_its_first_frame_in_the_same_capture(self, tmp_path: Path):
        """After the end, ``rewind()`` makes the next read the first frame again."""
        path = write_video(tmp_path / "clip.avi", frames=5)
        with open_source(str(path)) as source:
            first = source.read()
            while source.read() is not None:
                pass
            assert source.rewind()
            again = source.read()
        assert first is not None and again is not None
        assert np.array_equal(first, again)

    def test_the_synthetic_scene_starts_again(self):
        """The scene's frames are a function of their index: the same pixels a second time."""
        with open_source("synthetic:32x32@10:0.3") as source:
            frames = [source.read() for _ in range(3)]
            assert source.read() is None
            assert source.rewind()
            assert np.array_equal(source.read(), frames[0])

    def test_a_camera_cannot_start_again(self):
        """A live source has no start: the base class says no."""
        assert not CameraNamed("0").rewind()

    def test_a_released_file_cannot_start_again(self, tmp_path: Path):
        source = open_source(str(write_video(tmp_path / "clip.avi", frames=5)))
        source.release()
        assert not source.rewind()


class TestCameraSettings:
    def test_a_capture_that_ignores_the_properties_keeps_its_own_and_says_so(self):
        """A file's capture takes no size, rate or format: what it reports is its own, and the
        reading names every setting as not honoured."""
        capture = cv2.VideoCapture(str(SAMPLE))
        try:
            reading = request_camera_settings(capture, CameraSettings((1280, 720), 60.0, "MJPG"))
        finally:
            capture.release()
        assert reading.delivered.size == (640, 360) and reading.delivered.fps == 30.0
        assert reading.not_honoured() == ("size", "fps", "fourcc")

    def test_the_synthetic_scene_takes_a_size_and_a_rate_but_no_format(self):
        """Asked like a camera, the scene renders at that size and rate (as long as before);
        its frames are BGR whatever the format asked for."""
        camera = CameraSettings((32, 24), 15.0, "MJPG")
        with open_source("synthetic:64x48@30:2", camera=camera) as source:
            frame = source.read()
            info = source.info
        assert frame is not None and frame.shape == (24, 32, 3)
        assert (info.width, info.height, info.fps, info.frame_count) == (32, 24, 15.0, 30)
        assert info.camera == CameraReading(camera, CameraSettings((32, 24), 15.0, None))
        assert info.camera.not_honoured() == ("fourcc",)

    def test_a_size_beyond_the_scene_is_a_source_error(self):
        with pytest.raises(SourceError, match=r"^scene size must be at most"):
            open_source("synthetic", camera=CameraSettings(size=(9000, 9000)))

    @pytest.mark.parametrize("spec", [str(SAMPLE), "rtsp://127.0.0.1:9/x"])
    def test_a_file_or_a_stream_cannot_be_asked(self, spec: str):
        """Said before anything opens, in one line."""
        with pytest.raises(SourceError, match=r"^camera settings are for a camera or the synth"):
            open_source(spec, camera=CameraSettings(fps=30.0))

    def test_a_camera_that_does_not_open_is_the_same_error_with_settings(self):
        with pytest.raises(SourceError, match="camera 97 does not open"):
            open_source(97, camera=CameraSettings((1280, 720), 30.0, "MJPG"))

    def test_without_settings_a_source_has_no_camera_reading(self):
        with open_source("synthetic:32x32@10:0.1") as source:
            assert source.info.camera is None
