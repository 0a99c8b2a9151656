"""Tests for framepipe.pipeline.display: failing cleanly where no window can open."""

from __future__ import annotations

import subprocess
import sys

import pytest

from helpers import child_command


def _run_check(env_overrides: dict[str, str | None]) -> subprocess.CompletedProcess[str]:
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update({k: v for k, v in env_overrides.items() if v is not None})
    return subprocess.run(
        child_command("check_display"), env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="DISPLAY is an X11/Linux notion")
class TestCheckDisplay:
    def test_no_display_variable_is_reported_without_starting_a_gui(self):
        """Without DISPLAY or WAYLAND_DISPLAY the check says so in one line and does not crash."""
        result = _run_check({})
        assert result.returncode == 0
        assert result.stdout == "unavailable: --display needs a screen, but DISPLAY is not set\n"

    def test_an_unreachable_display_is_caught_in_the_probe_not_in_this_process(self):
        """DISPLAY pointing at no server: the probe child fails, this process gets one line."""
        result = _run_check({"DISPLAY": ":97"})
        assert result.returncode == 0
        assert result.stdout.startswith("unavailable: --display: OpenCV cannot open a window")
        assert result.stderr == ""
