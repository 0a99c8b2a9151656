"""Frame sources: a camera, a video file, a network stream or the built-in synthetic scene.

``open_source(spec)`` turns what a user typed into an open :class:`Source`; every failure a user
can cause (missing file, not a video, camera that does not open, unreachable URL, malformed
synthetic spec) is a :class:`SourceError` with a one-line message.
"""

from __future__ import annotations

import os
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import cv2

from framepipe._camera import CameraReading, CameraSettings
from framepipe._closing import Closing
from framepipe._paths import PathError, check_name, check_utf8
from framepipe._text import hide_secrets
from framepipe.pipeline.container import is_cut_off
from framepipe.pipeline.netprobe import why_stream_failed
from framepipe.pipeline.synthetic import DEFAULT_SCENE, Frame, SyntheticScene, _Renderer

__all__ = [
    "STREAM_SCHEMES",
    "Frame",
    "OpenCancelled",
    "Source",
    "SourceError",
    "SourceInfo",
    "SourceKind",
    "SourceSpec",
    "check_camera_source",
    "check_loop_source",
    "open_source",
    "parse_source",
    "request_camera_settings",
]

SourceKind = Literal["camera", "file", "stream", "synthetic"]
STREAM_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://", "tcp://", "udp://", "rtmp://")

# Extra time the open guard waits beyond OpenCV's own open timeout before giving up on a backend
# that ignores it.
_OPEN_GUARD_MARGIN_S = 2.0
# How often a guarded open asks whether the caller still wants it.
_CANCEL_POLL_S = 0.05


class SourceError(Exception):
    """A source that cannot be opened or read; ``str(error)`` is a one-line user-facing message.

    A URL's password (and a secret in its query) is hidden in the message, whoever raised it:
    the message is shown, logged and sent to other processes.
    """

    def __init__(self, *args: object) -> None:
        super().__init__(*(hide_secrets(arg) if isinstance(arg, str) else arg for arg in args))


class OpenCancelled(SourceError):
    """The caller stopped waiting (``cancelled`` turned true) before the source opened."""


@dataclass(frozen=True)
class SourceInfo:
    """What is known about an open source. ``None`` means the source does not say.

    ``name`` is what the source is shown as: a stream's URL without its password (see
    :func:`framepipe._text.hide_secrets`); the source itself keeps what it opened.

    ``frame_count`` is what the container reports, and often only an estimate: Matroska stores
    no count (OpenCV multiplies duration by the nominal rate, wrong for a variable frame rate),
    and an MP4 cut with an edit list counts frames it never shows. It sizes a progress bar; it is
    never evidence that frames are missing. ``cut_off`` is: the file is shorter than its own
    container declares (see :mod:`framepipe.pipeline.container`). ``camera``: the settings the
    run asked a camera (or the synthetic scene) for and what it then reported; None when none
    were asked for.
    """

    name: str
    kind: SourceKind
    fps: float | None
    width: int
    height: int
    frame_count: int | None
    is_live: bool
    cut_off: bool = False
    camera: CameraReading | None = None


@dataclass(frozen=True)
class SourceSpec:
    """A parsed source spec: its kind and target (camera index, file path, URL or scene)."""

    kind: SourceKind
    target: int | str | SyntheticScene

    @property
    def is_live(self) -> bool:
        return self.kind in ("camera", "stream")


def parse_source(spec: str | int | None) -> SourceSpec:
    """Classify ``spec`` without opening it.

    ``None`` is the default synthetic scene; an int or a digit string is a camera index; a URL
    with a stream scheme is a stream; ``synthetic[:WxH@FPS:SECONDS]`` is the generated scene;
    anything else must be an existing file.
    """
    if spec is None:
        return SourceSpec("synthetic", DEFAULT_SCENE)
    if isinstance(spec, bool):
        raise SourceError(
            f"source must be a camera index, path, URL or 'synthetic', but got {spec}"
        )
    if isinstance(spec, int):
        if spec < 0:
            raise SourceError(f"camera index must be >= 0, but got {spec}")
        return SourceSpec("camera", spec)
    text = spec.strip()
    if not text:
        raise SourceError("source must not be empty")
    try:
        check_utf8(text, "source")  # OpenCV crashes on a name or URL that is not UTF-8
    except PathError as exc:
        raise SourceError(str(exc)) from None
    if text.isdigit():
        return SourceSpec("camera", int(text))
    if text.lower().startswith(STREAM_SCHEMES):
        return SourceSpec("stream", text)
    if text == "synthetic" or text.startswith("synthetic:"):
        try:
            return SourceSpec("synthetic", SyntheticScene.from_spec(text))
        except ValueError as exc:
            raise SourceError(str(exc)) from None
    try:
        check_name(text, "source")  # a name the system refuses (too long): one line, no OSError
    except PathError as exc:
        raise SourceError(str(exc)) from None
    path = Path(text)
    if not path.exists():
        raise SourceError(f"no such file: {text}")
    if not path.is_file():
        raise SourceError(f"not a video file: {text} (not a regular file)")
    return SourceSpec("file", str(path))


class Source(Closing, ABC):
    """An open frame source. ``read()`` returns the next BGR frame, or ``None`` at the end."""

    info: SourceInfo
    # What ``reopen()`` opens when it is not ``info.name``: a stream's URL with its password.
    _opened: str | None = None

    @abstractmethod
    def read(self) -> Frame | None: ...

    @property
    def timestamp_s(self) -> float | None:
        """When the frame ``read()`` returned last is shown, in seconds from the start of the
        source; None when the source does not say (cameras, streams) or before the first read."""
        return None

    @abstractmethod
    def release(self) -> None:
        """Free the device or file; idempotent."""

    def rewind(self) -> bool:
        """Go back to the first frame, for looping; False when this source cannot (a camera or
        stream has no start to go back to)."""
        return False

    def reopen(
        self,
        *,
        open_timeout_s: float = 10.0,
        read_timeout_s: float | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> Source:
        """Open what this source read, anew: a camera by its index, a stream by its URL.

        For reconnecting after a drop; raises :class:`SourceError` when it does not open, or
        when this is not a camera or stream named by its index or URL.
        """
        name, kind = self._opened or self.info.name, self.info.kind
        if (kind == "camera" and name.isdigit()) or (
            kind == "stream" and name.lower().startswith(STREAM_SCHEMES)
        ):
            return open_source(
                name,
                open_timeout_s=open_timeout_s,
                read_timeout_s=read_timeout_s,
                cancelled=cancelled,
                camera=self.info.camera.requested if self.info.camera else None,  # asked again
            )
        raise SourceError(
            f"{self.info.name} cannot be reopened (not a camera index or a stream URL)"
        )

    def close(self) -> None:
        """The same as :meth:`release`, so ``with source:`` releases it."""
        self.release()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.info.name!r}, kind={self.info.kind!r})"


class SyntheticSource(Source):
    """The generated scene, produced as fast as it is read (like a file: not live).

    Asked for camera settings, it takes a size and a frame rate as a camera that honours them
    does, and no pixel format (its frames are always BGR).
    """

    def __init__(self, scene: SyntheticScene, camera: CameraSettings | None = None) -> None:
        if camera is not None:
            scene = scene.with_camera(camera.size, camera.fps)
        self.scene = scene
        self._renderer = _Renderer(scene)
        self._next = 0
        self._timestamp_s: float | None = None
        self._released = False
        self.info = SourceInfo(
            name=str(scene),
            kind="synthetic",
            fps=scene.fps,
            width=scene.width,
            height=scene.height,
            frame_count=scene.frame_count,
            is_live=False,
            camera=None
            if camera is None
            else CameraReading(camera, CameraSettings((scene.width, scene.height), scene.fps)),
        )

    def read(self) -> Frame | None:
        if self._released or self._next >= self.scene.frame_count:
            return None
        frame = self._renderer.render(self._next)
        self._timestamp_s = self._next / self.scene.fps
        self._next += 1
        return frame

    @property
    def timestamp_s(self) -> float | None:
        return self._timestamp_s

    def rewind(self) -> bool:
        self._next = 0
        return not self._released

    def release(self) -> None:
        self._released = True


class CaptureSource(Source):
    """A camera, file or stream read through ``cv2.VideoCapture``."""

    def __init__(
        self, capture: cv2.VideoCapture, info: SourceInfo, opened: str | None = None
    ) -> None:
        """``opened``: what was opened, when ``info.name`` shows it otherwise (a password
        hidden), for ``reopen()``."""
        self._opened = opened
        self._capture = capture
        self._lock = threading.Lock()
        self._released = False
        # Files and streams carry presentation times (a stream's tell how late a frame is read);
        # a camera's position means little.
        self._timed = info.kind in ("file", "stream")
        self._timestamp_s: float | None = None
        self.info = info

    def read(self) -> Frame | None:
        with self._lock:
            if self._released:
                return None
            ok, frame = self._capture.read()
            if ok and self._timed:
                self._timestamp_s = self._capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
        if not ok or frame is None:
            return None
        return frame

    @property
    def timestamp_s(self) -> float | None:
        return self._timestamp_s

    def rewind(self) -> bool:
        """A file seeks back to its first frame in the open capture (no reopening)."""
        if self.info.kind != "file":
            return False
        with self._lock:
            if self._released:
                return False
            return bool(self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0))

    def release(self) -> None:
        with self._lock:
            if not self._released:
                self._released = True
                self._capture.release()


def open_source(
    spec: str | int | None,
    *,
    open_timeout_s: float = 10.0,
    read_timeout_s: float | None = None,
    cancelled: Callable[[], bool] | None = None,
    camera: CameraSettings | None = None,
) -> Source:
    """Open ``spec`` (see :func:`parse_source`); raise :class:`SourceError` when it cannot be read.

    ``camera``: settings a camera is asked for before its first read (the synthetic scene takes
    a size and a rate too); what it then reports is ``info.camera``. SourceError for a file or
    a stream, which cannot be asked (see :func:`check_camera_source`).

    Network streams get a bounded open timeout (``open_timeout_s``) and read timeout
    (``read_timeout_s``, default the open timeout: a read that waits longer fails), and the open
    itself runs under a guard so a backend that ignores the timeout cannot hang the caller. A
    camera or stream open also ends, with :class:`OpenCancelled`, as soon as ``cancelled()`` is
    true (it is asked every 50 ms), or when a signal handler raises in the waiting thread.
    """
    if not open_timeout_s > 0:
        raise ValueError(f"open_timeout_s must be positive, but got {open_timeout_s}")
    parsed = parse_source(spec)
    check_camera_source(parsed, camera)
    if isinstance(parsed.target, SyntheticScene):
        try:
            return SyntheticSource(parsed.target, camera)
        except ValueError as exc:  # a size or rate beyond the scene's limits
            raise SourceError(str(exc)) from None
    if isinstance(parsed.target, int):
        index = parsed.target
        capture = _guarded_open(
            lambda: cv2.VideoCapture(index), open_timeout_s, f"camera {index}", cancelled
        )
        if capture is None or not capture.isOpened():
            raise SourceError(f"camera {index} does not open (no such device, or it is busy)")
        # Asked before the first read: a driver fixes its format when streaming starts.
        reading = None if camera is None else request_camera_settings(capture, camera)
        info = _info_from(capture, str(index), "camera", live=True)
        return CaptureSource(capture, replace(info, camera=reading))
    target = str(parsed.target)
    if parsed.kind == "stream":
        shown = hide_secrets(target)  # the URL with its password goes to OpenCV only
        if read_timeout_s is not None and not read_timeout_s > 0:
            raise ValueError(f"read_timeout_s must be positive, but got {read_timeout_s}")
        open_ms = int(open_timeout_s * 1000)
        read_ms = int((read_timeout_s or open_timeout_s) * 1000)
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, open_ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, read_ms]
        started = time.monotonic()
        capture = _guarded_open(
            lambda: cv2.VideoCapture(target, cv2.CAP_FFMPEG, params),
            open_timeout_s,
            f"stream {shown}",
            cancelled,
        )
        if capture is None or not capture.isOpened():
            reason = why_stream_failed(target, open_timeout_s, time.monotonic() - started)
            raise SourceError(f"stream {shown} is unreachable or not a video stream ({reason})")
        return CaptureSource(capture, _info_from(capture, shown, "stream", live=True), target)
    capture = cv2.VideoCapture(target)
    if not capture.isOpened():
        raise SourceError(f"not a video file: {target} (no decodable video stream)")
    info = _info_from(capture, os.path.basename(target), "file", live=False)
    if info.width <= 0 or info.height <= 0:
        capture.release()
        raise SourceError(f"not a video file: {target} (no video frames)")
    return CaptureSource(capture, replace(info, cut_off=is_cut_off(target)))


def check_loop_source(spec: SourceSpec, loop: bool) -> None:
    """Looping goes back to a source's start; a camera or stream has none (SourceError)."""
    if loop and spec.is_live:
        raise SourceError(f"{spec.target} is a camera or stream, which cannot start again")


def check_camera_source(spec: SourceSpec, camera: CameraSettings | None) -> None:
    """Camera settings go to a camera or the synthetic scene; a file or a stream has its own
    format, so asking it is a SourceError (a usage error, said before anything opens)."""
    if camera is not None and not camera.is_empty and spec.kind in ("file", "stream"):
        raise SourceError(
            f"camera settings are for a camera or the synthetic scene, not a {spec.kind} "
            f"({spec.target})"
        )


def request_camera_settings(capture: cv2.VideoCapture, camera: CameraSettings) -> CameraReading:
    """Ask ``capture`` for ``camera``'s settings (the format first: a driver picks the sizes and
    rates it offers by format), then read back what it reports.

    A backend that ignores a property (a file, many drivers for some values) keeps its own; the
    reading says so (``not_honoured()``).
    """
    if camera.fourcc is not None:
        capture.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter.fourcc(*camera.fourcc))
    if camera.size is not None:
        capture.set(cv2.CAP_PROP_FRAME_WIDTH, camera.size[0])
        capture.set(cv2.CAP_PROP_FRAME_HEIGHT, camera.size[1])
    if camera.fps is not None:
        capture.set(cv2.CAP_PROP_FPS, camera.fps)
    width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
    height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    fps = float(capture.get(cv2.CAP_PROP_FPS))
    delivered = CameraSettings(
        size=(width, height) if 0 < width <= 16384 and 0 < height <= 16384 else None,
        fps=fps if 0 < fps < 1000 else None,
        fourcc=_fourcc_text(capture.get(cv2.CAP_PROP_FOURCC)),
    )
    return CameraReading(camera, delivered)


def _fourcc_text(value: float) -> str | None:
    """The four characters of a FOURCC property; None when it is 0 or not printable text."""
    code = int(value) if value == value and 0 < value < 2**32 else 0  # NaN, negatives: none
    text = "".join(chr((code >> (8 * i)) & 0xFF) for i in range(4))
    return text if code and all(" " <= ch <= "~" for ch in text) else None


def _guarded_open(
    open_capture: Callable[[], cv2.VideoCapture],
    timeout_s: float,
    what: str,
    cancelled: Callable[[], bool] | None,
) -> cv2.VideoCapture | None:
    """Run ``open_capture`` in a helper thread; give up after the timeout plus a margin, when
    ``cancelled()`` is true, or when the wait is interrupted (a signal handler raising).

    The wait is a loop of short interruptible waits, so the caller's thread stays responsive to
    signals and to ``cancelled``. A capture that opens after the caller gave up is released by the
    helper thread itself, so it leaks neither a device nor a connection.
    """
    opening = _PendingOpen()
    thread = threading.Thread(
        target=opening.run, args=(open_capture,), name=f"framepipe-open {what}", daemon=True
    )
    deadline = time.monotonic() + timeout_s + _OPEN_GUARD_MARGIN_S
    thread.start()
    try:
        while not opening.done.wait(_CANCEL_POLL_S):
            if cancelled is not None and cancelled():
                raise OpenCancelled(f"stopped while opening {what}")
            if time.monotonic() >= deadline:
                # The backend ignored its timeout; the daemon thread is abandoned, not waited on.
                raise SourceError(f"{what} did not open within {timeout_s:g} s")
    except BaseException:
        opening.abandon()
        raise
    return opening.capture


class _PendingOpen:
    """An open running in a helper thread, and who releases its capture if nobody takes it."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.capture: cv2.VideoCapture | None = None
        self._lock = threading.Lock()
        self._abandoned = False

    def run(self, open_capture: Callable[[], cv2.VideoCapture]) -> None:
        capture: cv2.VideoCapture | None = None
        try:
            capture = open_capture()
        except Exception:
            pass  # no capture: the caller reports that the source does not open
        finally:
            with self._lock:
                abandoned = self._abandoned
                if not abandoned:
                    self.capture = capture
            self.done.set()
        if abandoned and capture is not None:
            capture.release()  # the caller gave up before the open completed

    def abandon(self) -> None:
        """The caller gives up: release the capture now if it has arrived, else when it does."""
        with self._lock:
            self._abandoned = True
            capture, self.capture = self.capture, None
        if capture is not None:
            capture.release()


def _info_from(capture: cv2.VideoCapture, name: str, kind: SourceKind, *, live: bool) -> SourceInfo:
    fps = float(capture.get(cv2.CAP_PROP_FPS))
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    return SourceInfo(
        name=name,
        kind=kind,
        # Backends report 0 (or nonsense like 1000 for some streams) when they do not know.
        fps=fps if 0 < fps < 1000 else None,
        width=int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
        height=int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
        frame_count=count if count > 0 and not live else None,
        is_live=live,
    )
