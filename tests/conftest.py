"""Shared fixtures: every test starts and ends without a running process-wide logger."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from framepipe.logging import get_logger


@pytest.fixture(autouse=True)
def _stop_process_logger() -> Iterator[None]:
    """Stop whatever logger a test configured, so its writer thread and hooks do not leak."""
    yield
    get_logger().stop()
