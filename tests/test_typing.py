"""framepipe.typing: the public types, and that the logging ones do not pull in numpy."""

from __future__ import annotations

import json
import subprocess
import typing

import pytest

import framepipe.typing as fp_typing
from framepipe.logging import address, configure
from helpers import child_command


class TestPublicTypes:
    @pytest.mark.parametrize(
        ("alias", "values"),
        [
            ("DropPolicy", ("block", "latest")),
            ("Overflow", ("drop_newest", "drop_oldest", "block")),
            ("LogMode", ("async", "sync")),
        ],
    )
    def test_literals_list_the_accepted_values(self, alias: str, values: tuple[str, ...]) -> None:
        """Each Literal alias names exactly the values the API accepts."""
        assert typing.get_args(getattr(fp_typing, alias)) == values

    def test_frame_aliases_resolve_on_first_use(self) -> None:
        """Frame, ProcessorFn and ProcessorSpec are real aliases once asked for; Frame is a
        numpy ndarray of any dtype, with ndarray as its origin on every Python and numpy."""
        import numpy as np

        assert typing.get_origin(fp_typing.Frame) is np.ndarray
        dtype = typing.get_args(fp_typing.Frame)[1]
        assert typing.get_origin(dtype) is np.dtype
        assert typing.get_args(dtype) == (typing.Any,)
        frame_fn = typing.get_args(fp_typing.ProcessorFn)
        assert frame_fn[0] == [fp_typing.Frame]
        assert fp_typing.ProcessorFn is not None
        assert fp_typing.ProcessorSpec is not None

    def test_unknown_name_raises_attribute_error(self) -> None:
        """A misspelt name is an AttributeError, as for any module."""
        with pytest.raises(AttributeError, match="Fram"):
            fp_typing.Fram  # noqa: B018

    def test_log_types_do_not_import_numpy(self) -> None:
        """Importing the logging types leaves numpy unloaded, so the logger stays light."""
        out = subprocess.run(
            child_command("log_types_imports"), capture_output=True, text=True, timeout=60,
            check=True,
        )  # fmt: skip
        assert json.loads(out.stdout) is False


class TestLiteralsMatchTheRuntimeChecks:
    """Each Literal is exactly the tuple of values the code validates against at run time."""

    def test_overflow_is_what_the_logger_accepts(self) -> None:
        """Overflow lists framepipe.logging.OVERFLOW_POLICIES, in order."""
        from framepipe.logging import OVERFLOW_POLICIES

        assert typing.get_args(fp_typing.Overflow) == OVERFLOW_POLICIES

    def test_log_mode_is_what_the_logger_accepts(self) -> None:
        """LogMode lists the modes configure() checks against."""
        from framepipe.logging._defaults import MODES

        assert typing.get_args(fp_typing.LogMode) == MODES

    def test_drop_policy_is_what_the_frame_buffer_accepts(self) -> None:
        """DropPolicy lists the frame buffer's DROP_POLICIES."""
        from framepipe.pipeline.buffer import DROP_POLICIES

        assert typing.get_args(fp_typing.DropPolicy) == DROP_POLICIES

    def test_configure_is_annotated_with_the_literals(self) -> None:
        """configure(overflow=..., mode=...) takes the Literals, so a type checker sees typos."""
        hints = typing.get_type_hints(configure)
        assert hints["overflow"] == fp_typing.Overflow
        assert hints["mode"] == fp_typing.LogMode


class TestLogStats:
    """LogStats is the shape of get_stats(), key for key."""

    @pytest.mark.parametrize("mode", ["async", "sync"])
    def test_a_loggers_stats_have_exactly_the_required_keys(self, mode: str) -> None:
        """Without a log channel, get_stats() has every required key and nothing else."""
        log = configure(log_dir=None, mode=mode, capture_stdlib=False)  # type: ignore[arg-type]
        assert set(log.get_stats()) == fp_typing.LogStats.__required_keys__

    def test_channel_is_the_one_optional_key(self) -> None:
        """channel appears once children can connect (address()); it is not required."""
        assert fp_typing.LogStats.__optional_keys__ == {"channel"}
        log = configure(log_dir=None, capture_stdlib=False)
        address()
        stats = log.get_stats()
        assert set(stats) == fp_typing.LogStats.__required_keys__ | {"channel"}
        assert set(stats["channel"]) == set(typing.get_type_hints(fp_typing.ChannelStats))

    def test_get_stats_is_annotated_with_it(self) -> None:
        """Logger.get_stats() -> LogStats, so readers of its keys are checked."""
        from framepipe.logging import Logger

        assert typing.get_type_hints(Logger.get_stats)["return"] is fp_typing.LogStats

    def test_it_imports_on_python_3_10_without_extra_packages(self) -> None:
        """The optional key is declared without typing_extensions, which 3.10 would need."""
        import ast
        from pathlib import Path

        tree = ast.parse(Path(fp_typing.__file__).read_text(encoding="utf-8"))
        imported = {
            node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
        } | {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
             for alias in node.names}
        assert "typing_extensions" not in imported
