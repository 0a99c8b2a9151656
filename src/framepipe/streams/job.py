"""What a worker is handed: one stream's job, as plain picklable values.

A processor crosses the process boundary by name only: a built-in, or an import path the worker
imports again. A function is accepted when it can be imported by its module and name, and turned
into that import path here; a lambda, a function defined in ``__main__`` or inside another function,
a class or an instance cannot be rebuilt in a fresh interpreter and is refused up front.
"""

from __future__ import annotations

import types
from collections.abc import Sequence
from dataclasses import dataclass

from framepipe.pipeline.config import PipelineConfig
from framepipe.pipeline.processors import check_processor, load_import_path
from framepipe.typing import LogMode, ProcessorSpec

__all__ = ["LogTarget", "StreamJob", "portable_processor"]

SNAPSHOT_INTERVAL_S = 1.0  # how often a worker sends its snapshot: at most once a second


@dataclass(frozen=True)
class LogTarget:
    """Where a worker's log records go.

    ``address``: the parent's log channel (``framepipe.logging.address()``): the worker
    connects to it and its records reach the parent's one writer, each line with its stream,
    pid and sequence number. Without one, a file of the worker's own under
    ``<log_dir>/<stream>/`` (stderr when ``log_dir`` is None too), written in ``mode``.
    """

    log_dir: str | None = None
    mode: LogMode = "async"
    address: str | None = None

    @classmethod
    def channel(cls, address: str) -> LogTarget:
        """Through the parent's log channel at ``address``."""
        return cls(address=address)


@dataclass(frozen=True)
class StreamJob:
    """One stream: what to read, how to process it, and how the worker sets itself up.

    ``log_target`` None: the worker configures no logging, so its records go wherever the
    implicit defaults send them (``$FRAMEPIPE_LOG_DIR``, else ``logs``).
    """

    name: str
    source: str | int | None
    processor: tuple[str, ...] | None
    config: PipelineConfig
    cv_threads: int
    log_target: LogTarget | None = None
    snapshot_interval_s: float = SNAPSHOT_INTERVAL_S

    @property
    def processor_name(self) -> str:
        """The name the summary shows: ``a+b`` for a chain, as a pipeline names it."""
        return "none" if self.processor is None else "+".join(self.processor)


def portable_processor(spec: ProcessorSpec) -> tuple[str, ...] | None:
    """``spec`` as names and import paths another process can rebuild it from.

    ValueError when an item cannot be rebuilt there (saying to use an import path), or when a
    name or import path does not resolve (as ``check_processor`` says).
    """
    if spec is None:
        return None
    items: Sequence[object] = [spec] if isinstance(spec, str) or callable(spec) else spec
    if not isinstance(items, Sequence):
        raise ValueError(
            f"processor must be a built-in name, an import path or a list of them, but got {spec!r}"
        )
    portable = tuple(_portable_item(item) for item in items)
    check_processor(list(portable))
    return portable


_USE_AN_IMPORT_PATH = "name it by import path instead, 'package.module:function'"


def _portable_item(item: object) -> str:
    if isinstance(item, str):
        return item
    if not isinstance(item, types.FunctionType):
        what = "a class" if isinstance(item, type) else f"a {type(item).__name__} object"
        raise ValueError(
            f"processor {item!r} cannot be rebuilt in a worker process ({what}): "
            f"{_USE_AN_IMPORT_PATH} (a class as 'package.module:Class')"
        )
    module, qualname = item.__module__, item.__qualname__
    if item.__name__ == "<lambda>":
        reason = "a lambda has no import path"
    elif module in ("__main__", "__mp_main__"):
        reason = f"{qualname} is defined in __main__, which a worker process does not import"
    elif "<locals>" in qualname:
        reason = f"{qualname} is defined inside a function"
    else:
        path = f"{module}:{qualname}"
        if _imports_as(path, item):
            return path
        reason = f"{module}.{qualname} does not import as that name"
    raise ValueError(
        f"processor {item.__name__} cannot be rebuilt in a worker process ({reason}): "
        f"{_USE_AN_IMPORT_PATH}"
    )


def _imports_as(path: str, item: object) -> bool:
    try:
        return load_import_path(path) is item
    except ValueError:
        return False
