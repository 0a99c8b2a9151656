"""Other packages use framepipe.logging through its public names only.

What an upper layer needs from the logger is a public function there (``is_configured()``, the
``transport`` module), never one of its private modules or names: those change with the logger.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import framepipe

SRC = Path(framepipe.__file__).parent
PACKAGE = "framepipe.logging"


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_private(dotted: str) -> bool:
    """Whether ``dotted`` names a private part of framepipe.logging (a module or a name)."""
    if dotted != PACKAGE and not dotted.startswith(PACKAGE + "."):
        return False
    return any(part.startswith("_") for part in dotted[len(PACKAGE):].split(".") if part)


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The module an ``from ... import`` names, with a relative one resolved."""
    if not node.level:
        return node.module or ""
    base = module.split(".")
    base = base[: len(base) - node.level + (1 if is_package else 0)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _dotted(node: ast.expr) -> str | None:
    """``a.b.c`` for an attribute chain on a plain name, else None."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return ".".join([node.id, *reversed(parts)])
    return None


def private_uses(source: str, module: str, is_package: bool = False) -> list[str]:
    """Each private module or name of framepipe.logging that ``source`` imports or reads."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if _is_private(alias.name)]
        elif isinstance(node, ast.ImportFrom):
            origin = _absolute(node, module, is_package)
            found += [
                f"{origin}.{alias.name}" for alias in node.names
                if _is_private(f"{origin}.{alias.name}")
            ]
        elif isinstance(node, ast.Attribute):
            dotted = _dotted(node)
            if dotted is not None and _is_private(dotted):
                found.append(dotted)
    return sorted(set(found))


def outside_the_package() -> list[Path]:
    logging_dir = SRC / "logging"
    return [p for p in sorted(SRC.rglob("*.py")) if logging_dir not in p.parents]


class TestTheScan:
    """The scan itself: it sees each way of reaching in, and lets public names through."""

    @pytest.mark.parametrize(
        ("source", "expected"),
        [
            ("from framepipe.logging._core import Core", ["framepipe.logging._core.Core"]),
            ("from framepipe.logging import _config, get_logger", ["framepipe.logging._config"]),
            ("import framepipe.logging._remote as r", ["framepipe.logging._remote"]),
            # a private name of a public module
            ("from framepipe.logging.transport import _x", ["framepipe.logging.transport._x"]),
            # relative, from framepipe.streams.api
            ("from ..logging import _config", ["framepipe.logging._config"]),
            ("from ..logging._records import set_stream",
             ["framepipe.logging._records.set_stream"]),
            # a read through the package attribute
            ("import framepipe.logging\nframepipe.logging._config._state",
             ["framepipe.logging._config", "framepipe.logging._config._state"]),
            # public names pass
            ("from framepipe.logging import configure, is_configured", []),
            ("from framepipe.logging.transport import receiver", []),
            ("from framepipe._paths import x\nfrom framepipe.streams._x import y", []),
            ("import logging\nlogging._lock", []),
        ],
    )
    def test_it_finds_private_uses(self, source: str, expected: list[str]) -> None:
        """Each private module or name is reported with its full dotted name."""
        assert private_uses(source, "framepipe.streams.api") == expected


def test_no_module_outside_the_logger_uses_its_private_parts() -> None:
    """Every module of framepipe outside framepipe.logging imports only its public names."""
    paths = outside_the_package()
    assert len(paths) > 20, "the scan found too few modules to mean anything"
    offenders = {
        str(path.relative_to(SRC.parent)): uses
        for path in paths
        if (uses := private_uses(
            path.read_text(encoding="utf-8"), _module_name(path), path.name == "__init__.py"
        ))
    }
    assert offenders == {}
