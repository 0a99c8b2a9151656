"""One stream's settings from a mapping: a ``[[stream]]`` table of a config file, or a JSON object.

:func:`stream_settings` turns a mapping into a :class:`StreamSettings` (name, source, processor
and a :class:`~framepipe.pipeline.config.PipelineConfig`), or raises :class:`SettingsError`,
whose message is one line naming where the mapping came from, the stream and the key. Every
field of ``PipelineConfig`` is a key of the same name, checked by ``PipelineConfig`` itself, so
a key means the same and is refused for the same reasons in a file, a request body and on the
command line.

Nothing here imports a processor module or opens a source: a processor is checked for its form
(a built-in name or ``package.module:name``), a source as ``parse_source`` classifies it. The
application decides what may be imported and read, and when.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from framepipe._camera import CAMERA_KEYS, CameraSettings, check_camera_fps, check_fourcc
from framepipe._camera import parse_camera_size as _parse_size
from framepipe.pipeline.config import PipelineConfig
from framepipe.pipeline.processors import PROCESSOR_NAMES, check_processor
from framepipe.pipeline.sources import (
    SourceError,
    check_camera_source,
    check_loop_source,
    parse_source,
)

__all__ = [
    "DEFAULT_PROCESSOR",
    "SETTING_KEYS",
    "STREAM_KEYS",
    "SettingsError",
    "StreamSettings",
    "check_processor_form",
    "check_stream_name",
    "settings_defaults",
    "stream_settings",
]

DEFAULT_PROCESSOR = "motion"
# What a stream sets besides its name and source: its processor and every PipelineConfig field.
SETTING_KEYS: tuple[str, ...] = (
    "processor",
    *(field.name for field in dataclasses.fields(PipelineConfig)),
)
STREAM_KEYS: tuple[str, ...] = ("name", "source", *SETTING_KEYS)

_NAME = re.compile(r"[A-Za-z0-9._-]+")
_IMPORT_PATH = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")


class SettingsError(ValueError):
    """A mapping that is not a valid stream; ``str(error)`` is one line.

    ``where`` says where the mapping came from (a file's name, or empty), ``stream`` which
    stream (its name, or its position when it has no usable name), ``key`` the key at fault
    (None: the mapping as a whole), ``reason`` what is wrong with it.
    """

    def __init__(self, where: str, stream: str, key: str | None, reason: str) -> None:
        self.where, self.stream, self.key = where, stream, key
        # One line, whatever a value held; spaces kept (a key of two spaces is shown as such).
        self.reason = " ".join(line.strip() for line in reason.splitlines() if line.strip())
        parts = [part for part in (where, stream) if part]
        super().__init__(": ".join([*parts, self.reason]))


@dataclass(frozen=True)
class StreamSettings:
    """One stream, checked: what it is called, what it reads, what it runs, how it runs."""

    name: str
    source: str | int
    processor: tuple[str, ...]
    config: PipelineConfig

    @property
    def camera(self) -> CameraSettings | None:
        return self.config.camera

    @property
    def loop(self) -> bool:
        return self.config.loop

    def to_dict(self) -> dict[str, Any]:
        """The settings as a mapping this module reads back to the same value (JSON-ready)."""
        values: dict[str, Any] = {
            "name": self.name,
            "source": self.source,
            "processor": list(self.processor),
        }
        default = PipelineConfig()
        for field in dataclasses.fields(PipelineConfig):
            value = getattr(self.config, field.name)
            if value != getattr(default, field.name):
                values[field.name] = _plain(value)
        return values


def check_stream_name(name: object) -> str:
    """``name`` when it can name a stream and a file; ValueError says what it must be."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or name in (".", ".."):
        raise ValueError(
            "stream name must be ASCII letters, digits, '.', '_' or '-' (not '.' or '..'), "
            f"but got {name!r}"
        )
    return name


def check_processor_form(item: object) -> str:
    """A built-in name (checked as ``framepipe run`` checks it) or ``package.module:name`` (its
    form only: nothing is imported). ValueError otherwise."""
    if not isinstance(item, str):
        raise ValueError(f"processor must be a built-in name or an import path, but got {item!r}")
    if ":" in item:
        if not _IMPORT_PATH.fullmatch(item):
            raise ValueError(
                f"processor import path must be 'package.module:name', but got {item!r}"
            )
        return item
    check_processor(item)  # a built-in name: nothing to import
    return item


def settings_defaults(table: object, *, where: str = "") -> dict[str, Any]:
    """A ``[defaults]`` table checked key by key (every key a stream may set, but ``name`` and
    ``source``); SettingsError naming ``[defaults]`` and the key."""
    context = _Context(where, "[defaults]")
    mapping = context.mapping(table)
    for key, value in mapping.items():
        if key in ("name", "source"):
            raise context.error(key, f"{key} cannot have a default: each stream sets its own")
        context.known(key, SETTING_KEYS)
        context.setting(key, value)
    return dict(mapping)


def stream_settings(
    table: object,
    *,
    where: str = "",
    position: int | None = None,
    defaults: Mapping[str, Any] | None = None,
) -> StreamSettings:
    """The stream a mapping describes, ``defaults`` filling in the keys it does not set.

    ``where`` starts every message (a file's name); ``position`` names a stream whose ``name``
    is missing or bad (``stream 3``). SettingsError for anything else: a mapping that is not
    one, an unknown key (with the closest known one), a value of the wrong type or out of range,
    a missing name or source, settings that do not go together.
    """
    label = f"stream {position}" if position is not None else "stream"
    context = _Context(where, label)
    mapping = context.mapping(table)
    name: str | None = None
    try:
        name = check_stream_name(mapping.get("name"))
        context.stream = f"stream {name!r}"  # its name says which, from here on
    except ValueError as exc:
        bad_name = str(exc)
    for key in mapping:
        context.known(key, STREAM_KEYS)
    if "name" not in mapping:
        raise context.error("name", "name is missing: every stream needs one")
    if name is None:
        raise context.error("name", bad_name)
    merged = {**(defaults or {}), **mapping}
    values = {key: context.setting(key, value) for key, value in merged.items()}
    if "source" not in mapping:
        raise context.error("source", "source is missing: a camera index, a file, a URL or "
                            "'synthetic[:WxH@FPS:SECONDS]'")  # fmt: skip
    processor = values.pop("processor", (DEFAULT_PROCESSOR,))
    source = values.pop("source")
    values.pop("name")
    try:
        config = PipelineConfig(**values)
    except ValueError as exc:  # settings that do not go together
        raise context.error(None, str(exc)) from None
    spec = parse_source(source)  # already parsed once by setting(): it parses
    try:
        check_loop_source(spec, config.loop)
    except SourceError as exc:
        raise context.error("loop", f"loop: {exc}") from None
    try:
        check_camera_source(spec, config.camera)
    except SourceError as exc:
        raise context.error("camera", f"camera: {exc}") from None
    return StreamSettings(name, source, processor, config)


class _Context:
    """Where a mapping came from and which stream it is, for one-line messages."""

    def __init__(self, where: str, stream: str) -> None:
        self.where, self.stream = where, stream

    def error(self, key: str | None, reason: str) -> SettingsError:
        return SettingsError(self.where, self.stream, key, reason)

    def mapping(self, table: object) -> Mapping[str, Any]:
        if not isinstance(table, Mapping):
            raise self.error(None, f"must be a table of settings, but got {_kind(table)}")
        for key in table:
            if not isinstance(key, str):
                raise self.error(None, f"keys must be strings, but got {key!r}")
        return table

    def known(self, key: str, keys: tuple[str, ...]) -> None:
        if key not in keys:
            close = difflib.get_close_matches(key, keys, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise self.error(key, f"unknown key {key!r}{hint}")

    def setting(self, key: str, value: Any) -> Any:
        """``value`` checked (and made typed) for ``key``; the checks are the command line's."""
        try:
            if key == "name":
                return check_stream_name(value)
            if key == "source":
                return _source(value)
            if key == "processor":
                return _processor(value)
            if key == "camera":
                return _camera(value)
            PipelineConfig(**{key: value})  # that field's own check, every other one default
        except (ValueError, SourceError) as exc:
            raise self.error(key, _naming(key, str(exc))) from None
        return value


def _source(value: Any) -> str | int:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError(
            "source must be a camera index, a file, a URL or 'synthetic[:WxH@FPS:SECONDS]', "
            f"but got {value!r}"
        )
    parse_source(value)  # SourceError says what is wrong with it
    return value


def _processor(value: Any) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise ValueError(
            "processor must be a name or import path, or a non-empty list of them "
            f"(built-ins: {', '.join(PROCESSOR_NAMES)}), but got {value!r}"
        )
    return tuple(check_processor_form(item) for item in items)


def _camera(value: Any) -> CameraSettings:
    if not isinstance(value, Mapping):
        raise ValueError(f"camera must be a table of {', '.join(CAMERA_KEYS)}, but got {value!r}")
    settings: dict[str, Any] = {}
    for key, item in value.items():
        if key not in CAMERA_KEYS:
            close = difflib.get_close_matches(str(key), CAMERA_KEYS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"unknown key {key!r}{hint}")
        try:
            if key == "size":
                settings["size"] = _parse_size(item)
            elif key == "fps":
                settings["fps"] = check_camera_fps(item)
            else:
                settings["fourcc"] = check_fourcc(item)
        except ValueError as exc:
            raise ValueError(f"camera.{key} {exc}") from None
    return CameraSettings(**settings)


def _naming(key: str, message: str) -> str:
    """A check's message, made to name its key where it does not already."""
    return message if message.startswith(key) else f"{key}: {message}"


def _kind(value: object) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


def _plain(value: Any) -> Any:
    if isinstance(value, CameraSettings):
        return {key: item for key, item in value.to_dict().items() if item is not None}
    return str(value) if hasattr(value, "__fspath__") else value
