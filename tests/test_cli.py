"""The top-level ``framepipe`` command: subcommand dispatch, --version and --help."""

from __future__ import annotations

import json
import subprocess

import pytest

from framepipe.cli import main
from helpers import child_command

Capture = pytest.CaptureFixture[str]


def _modules_loaded_after(argv: list[str]) -> tuple[int, set[str]]:
    """Run ``main(argv)`` in a fresh interpreter; its exit code and the heavy modules it loaded."""
    out = subprocess.run(
        child_command("cli_imports", *argv), capture_output=True, text=True, timeout=60, check=True
    ).stdout.splitlines()
    report = json.loads(out[-1])
    return report["rc"], set(report["loaded"])


class TestLightCommands:
    @pytest.mark.parametrize("argv", [["--version"], ["--help"]])
    def test_version_and_help_do_not_import_opencv_or_numpy(self, argv: list[str]) -> None:
        """``framepipe --version`` and ``--help`` answer without loading OpenCV or numpy."""
        rc, loaded = _modules_loaded_after(argv)
        assert rc == 0
        assert loaded == set()

    def test_subcommand_help_still_lists_its_flags(self, capsys: Capture) -> None:
        """``framepipe run --help`` loads the run subcommand and shows its options."""
        assert main(["run", "--help"]) == 0
        assert "--budget-ms" in capsys.readouterr().out

    def test_top_level_help_lists_every_subcommand(self, capsys: Capture) -> None:
        """The top-level help names each subcommand with its one-line description."""
        assert main(["--help"]) == 0
        out = capsys.readouterr().out
        assert "run" in out and "bench" in out
        assert "measure what sync and async logging cost per frame" in out


class TestDispatch:
    def test_unknown_subcommand_is_a_usage_error(self, capsys: Capture) -> None:
        """An unknown subcommand exits 2 with one line on stderr."""
        assert main(["frobnicate"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("framepipe: error:") and err.count("\n") == 1

    def test_no_subcommand_is_a_usage_error(self, capsys: Capture) -> None:
        """A bare ``framepipe`` with no subcommand exits 2."""
        assert main([]) == 2
        assert "framepipe: error:" in capsys.readouterr().err

    def test_an_interrupt_that_reaches_the_top_exits_130(
        self, capsys: Capture, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A KeyboardInterrupt no subcommand handled is not success: exit 130 and one line."""
        import framepipe.cli.run as run_cli

        def interrupted(args: object) -> int:
            raise KeyboardInterrupt

        monkeypatch.setattr(run_cli, "run", interrupted)
        assert main(["run"]) == 130
        assert capsys.readouterr().err == "framepipe: error: interrupted\n"
