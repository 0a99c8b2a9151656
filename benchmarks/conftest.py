"""The benchmarks run in pytest's own process: pytest-benchmark times nothing under
pytest-xdist, which pyproject's addopts turn on for the test suite (``-n auto``)."""

from __future__ import annotations

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """``-n 0 --dist no``, before pytest-xdist reads them."""
    if config.pluginmanager.hasplugin("xdist"):
        config.option.numprocesses = 0
        config.option.dist = "no"
