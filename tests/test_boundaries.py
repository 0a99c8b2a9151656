"""The package boundaries of src/framepipe: private stays private, and the layers hold.

A package's private modules (``framepipe.logging._core``) and private names (``_load``) are its
own: another package that needs one needs a public function instead. The shared leaves at the
top (``framepipe._paths``, ``framepipe._text``, ...) are private to framepipe, not to a package,
so every package may use them. The layers themselves are import-linter's contract in
pyproject.toml.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
PROJECT = SRC.parent
# What the ``lint-imports`` console script runs, whether or not its directory is on PATH.
LINT_IMPORTS = "from importlinter.cli import lint_imports_command; lint_imports_command()"


@dataclass(frozen=True)
class Reach:
    """One import of a private module or name of another package."""

    module: str
    line: int
    target: str

    def __str__(self) -> str:
        return f"{self.module}:{self.line} imports {self.target}"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _package(module: str) -> str:
    """``framepipe.logging._core`` -> ``framepipe.logging``; a top-level leaf is its own."""
    return ".".join(module.split(".")[:2])


def _private(part: str) -> bool:
    return part.startswith("_") and not (part.startswith("__") and part.endswith("__"))


def private_reaches(source: str, module: str) -> list[Reach]:
    """Every import in ``source`` (the text of ``module``) of another package's private parts,
    at any depth in the code: a function-level import counts as much as one at the top."""
    tree = ast.parse(source)
    own = _package(module)
    found = []
    for node in ast.walk(tree):
        targets: list[tuple[str, list[str]]] = []
        if isinstance(node, ast.Import):
            targets = [(alias.name, []) for alias in node.names]
        # framepipe imports absolutely; a relative import would be its own package's.
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module is not None:
            targets = [(node.module, [alias.name for alias in node.names])]
        for target, names in targets:
            if not target.startswith("framepipe.") or _package(target) == own:
                continue
            inner = target.split(".")[2:]
            if any(_private(part) for part in inner):
                found.append(Reach(module, node.lineno, target))
            found += [
                Reach(module, node.lineno, f"{target}.{name}") for name in names if _private(name)
            ]
    return found


def test_no_module_imports_a_private_part_of_another_package():
    """Across src/framepipe, a package's private modules and names are used only inside it."""
    reaches = [
        reach
        for path in sorted((SRC / "framepipe").rglob("*.py"))
        for reach in private_reaches(path.read_text(encoding="utf-8"), _module_name(path))
    ]
    assert not reaches, "private parts used across packages:\n" + "\n".join(map(str, reaches))


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # a private module of another package, at the top of the file
        ("from framepipe.logging._core import Core\n", ["framepipe.logging._core"]),
        # a private name of another package, inside a function
        (
            "def f():\n    from framepipe.pipeline.processors import _load\n",
            ["framepipe.pipeline.processors._load"],
        ),
        # a private module imported as a name
        ("from framepipe.logging import _config\n", ["framepipe.logging._config"]),
        # a plain import statement
        ("import framepipe.logging._records\n", ["framepipe.logging._records"]),
        # the package's own private parts, a shared leaf, and public names are fine
        ("from framepipe.streams._x import y\nfrom framepipe._paths import check_name\n", []),
        ("from framepipe.logging import get_logger\n", []),
    ],
)
def test_the_scan_finds_what_it_should(source: str, expected: list[str]):
    """The scan itself: what counts as reaching into another package, as seen from streams."""
    found = [reach.target for reach in private_reaches(source, "framepipe.streams._worker")]
    assert found == expected


def test_the_layer_contract_holds():
    """import-linter's layers (cli, streams, monitor | bench, pipeline, logging, leaves) are kept:
    no module imports a layer above its own, at the top or inside a function. Run in a child
    interpreter, as the ``lint-imports`` command does, so its report is read whole."""
    result = subprocess.run(
        [sys.executable, "-c", LINT_IMPORTS, "--no-cache", "--no-logo"],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout
