"""The logger's defaults and its own notes on stderr, each defined in one place."""

from __future__ import annotations

import ast
import inspect
import io
import json
import os
import subprocess
from pathlib import Path

import pytest

import framepipe.logging
from framepipe.logging import _defaults, configure
from framepipe.logging._notes import stderr_note
from helpers import child_command

PACKAGE = Path(framepipe.logging.__file__).parent


class TestDefaults:
    @pytest.mark.parametrize(
        ("parameter", "default"),
        [
            ("log_dir", _defaults.LOG_DIR),
            ("level", _defaults.LEVEL),
            ("queue_size", _defaults.QUEUE_SIZE),
            ("overflow", _defaults.OVERFLOW),
            ("protect_level", _defaults.PROTECT_LEVEL),
            ("block_timeout", _defaults.BLOCK_TIMEOUT_S),
            ("max_bytes", _defaults.MAX_BYTES),
            ("backup_count", _defaults.BACKUP_COUNT),
            ("mode", _defaults.MODE),
        ],
    )
    def test_configure_takes_its_defaults_from_the_one_place(
        self, parameter: str, default: object
    ) -> None:
        """configure()'s signature shows the values the defaults module defines."""
        assert inspect.signature(configure).parameters[parameter].default == default

    def test_every_flush_waits_the_same_default_time(self) -> None:
        """Logger.flush() and the engines behind it share one default timeout."""
        from framepipe.logging import Logger
        from framepipe.logging._core import AsyncCore, SyncCore
        from framepipe.logging._remote import RemoteCore

        for flush in (Logger.flush, AsyncCore.flush, SyncCore.flush, RemoteCore.flush):
            timeout = inspect.signature(flush).parameters["timeout"].default
            assert timeout == _defaults.FLUSH_TIMEOUT_S, flush.__qualname__

    def test_the_implicit_configuration_runs_with_the_same_defaults(self, tmp_path: Path) -> None:
        """A first record without configure() gets the queue, policy, levels and mode that
        configure() would give."""
        env = {**os.environ, "FRAMEPIPE_LOG_DIR": ""}
        out = subprocess.run(
            child_command("fresh_logger", "implicit_stats"), cwd=tmp_path, env=env,
            capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        stats = json.loads(out.stdout)
        assert (stats["queue_maxsize"], stats["overflow"], stats["mode"]) == (
            _defaults.QUEUE_SIZE, _defaults.OVERFLOW, _defaults.MODE
        )
        assert (stats["level"], stats["protect_level"]) == (
            _defaults.LEVEL, _defaults.PROTECT_LEVEL
        )


class TestStderrNote:
    def test_a_note_is_one_line_naming_the_logger(self) -> None:
        """A note reads ``framepipe.logging: <text>`` on a line of its own."""
        stream = io.StringIO()
        stderr_note("the writer is late", stream)
        assert stream.getvalue() == "framepipe.logging: the writer is late\n"

    def test_it_goes_to_stderr_by_default(self, capsys: pytest.CaptureFixture[str]) -> None:
        """Without a stream, the note goes to sys.stderr as it is at the call."""
        stderr_note("hello")
        assert capsys.readouterr().err == "framepipe.logging: hello\n"

    def test_a_broken_stderr_never_raises(self) -> None:
        """A logger never raises into its caller, not even to say that something failed."""
        stream = io.StringIO()
        stream.close()
        stderr_note("lost", stream)  # no exception

    def test_only_one_module_of_the_package_defines_it(self) -> None:
        """Every note of the logging package goes through the one function."""
        defined = [
            path.name
            for path in sorted(PACKAGE.glob("*.py"))
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, ast.FunctionDef) and node.name.lstrip("_") == "stderr_note"
        ]
        assert defined == ["_notes.py"]

    def test_no_other_module_writes_its_prefix_by_hand(self) -> None:
        """The ``framepipe.logging:`` prefix is written by _notes alone."""
        by_hand = [
            path.name
            for path in sorted(PACKAGE.glob("*.py"))
            if path.name != "_notes.py"
            and any(
                isinstance(node, ast.Constant) and isinstance(node.value, str)
                and node.value.startswith("framepipe.logging: ")
                for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            )
        ]
        assert by_hand == []
