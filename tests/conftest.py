"""Shared fixtures: every test starts and ends without a running process-wide logger; logs of
the implicit defaults in a temporary directory for the modules that ask for it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from framepipe.logging import get_logger


@pytest.fixture(autouse=True)
def _stop_process_logger() -> Iterator[None]:
    """Stop whatever logger a test configured, so its writer thread and hooks do not leak."""
    yield
    get_logger().stop()


@pytest.fixture
def logs_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Whatever logs where the implicit defaults say (workers, a supervisor, a driver) logs
    here: ``FRAMEPIPE_LOG_DIR`` is a ``logs`` directory under the test's temporary one."""
    log_dir = tmp_path / "logs"
    monkeypatch.setenv("FRAMEPIPE_LOG_DIR", str(log_dir))
    return log_dir
