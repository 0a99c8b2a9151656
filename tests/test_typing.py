"""framepipe.typing: the public types, and that the logging ones do not pull in numpy."""

from __future__ import annotations

import json
import subprocess
import sys
import typing

import pytest

import framepipe.typing as fp_typing


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
        """Frame, ProcessorFn and ProcessorSpec are real aliases once asked for."""
        import numpy as np

        assert typing.get_origin(fp_typing.Frame) is np.ndarray
        assert fp_typing.ProcessorFn is not None
        assert fp_typing.ProcessorSpec is not None

    def test_unknown_name_raises_attribute_error(self) -> None:
        """A misspelt name is an AttributeError, as for any module."""
        with pytest.raises(AttributeError, match="Fram"):
            fp_typing.Fram  # noqa: B018

    def test_log_types_do_not_import_numpy(self) -> None:
        """Importing the logging types leaves numpy unloaded, so the logger stays light."""
        code = (
            "import json, sys\n"
            "from framepipe.typing import LogStats, Overflow, LogMode\n"
            "print(json.dumps('numpy' in sys.modules))\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
        )
        assert json.loads(out.stdout) is False
