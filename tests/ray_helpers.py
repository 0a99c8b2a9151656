"""A local Ray instance for a test module, and a handler that keeps the records it is given."""

from __future__ import annotations

import logging
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from helpers import pythonpath_with_tests

__all__ = ["RAY_FLAG_ERRORS", "Records", "local_ray"]


# Ray flags that cannot apply, and the one line each gets (``framepipe run`` and ``serve``).
RAY_FLAG_ERRORS = [
    (["--ray-address", "auto"], "--ray-address needs --engine ray"),
    (["--ray-cpus-per-stream", "2"], "--ray-cpus-per-stream needs --engine ray"),
    (["--engine", "ray", "--ray-cpus-per-stream", "0"], "must be a positive number of CPUs"),
    (["--engine", "dask"], "invalid choice: 'dask'"),
    (
        ["--engine", "ray", "--ray-address", "nonsense"],
        "argument --ray-address: must be 'auto', host:port or ray://host:port, but got 'nonsense'",
    ),
]


@contextmanager
def local_ray(cpus: int = 2) -> Iterator[Any]:
    """``ray`` initialised on a local instance of its own (``address="local"``: never one that
    another program on this machine runs), ``cpus`` CPUs and a small object store; its actors
    can import the tests' processors (Ray's processes inherit PYTHONPATH). Skips without Ray.
    Shut down on the way out, with this process's SIGTERM handler as it was."""
    ray = pytest.importorskip("ray")
    sigterm = signal.getsignal(signal.SIGTERM)
    with pytest.MonkeyPatch.context() as environment:
        environment.setenv("PYTHONPATH", pythonpath_with_tests())
        ray.init(
            address="local",
            num_cpus=cpus,
            object_store_memory=80 * 2**20,
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.ERROR,
        )
    try:
        yield ray
    finally:
        ray.shutdown()
        signal.signal(signal.SIGTERM, sigterm)  # ray.init's handler goes with it


class Records(logging.Handler):
    """Keeps every record the driver's writer hands it."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def of(self, stream: str) -> list[logging.LogRecord]:
        return [r for r in self.records if getattr(r, "stream", None) == stream]
