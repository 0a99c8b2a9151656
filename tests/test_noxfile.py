"""The test matrix in noxfile.py and .ci/run agrees with what the package claims.

noxfile.py imports nox, which only the dev extra installs, so its settings are read from its
source here; pyproject.toml is read with a pattern, as tomllib is not in Python 3.10.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _noxfile_value(name: str) -> list[str]:
    """The literal list assigned to ``name`` at the top of noxfile.py."""
    tree = ast.parse((ROOT / "noxfile.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == name for target in node.targets
        ):
            value = ast.literal_eval(node.value)
            assert isinstance(value, list)
            return value
    raise AssertionError(f"noxfile.py assigns no {name}")


PYPROJECT = (ROOT / "pyproject.toml").read_text(encoding="utf-8")


def _classifier_versions() -> list[str]:
    return re.findall(r'"Programming Language :: Python :: (3\.\d+)"', PYPROJECT)


def test_nox_tests_every_version_the_classifiers_name() -> None:
    """The classifiers are the versions nox tests, and the oldest is requires-python's."""
    pythons = _noxfile_value("PYTHONS")
    assert pythons == _classifier_versions()
    assert re.search(rf'^requires-python = ">={re.escape(pythons[0])}"$', PYPROJECT, re.M)


@pytest.mark.parametrize("module", _noxfile_value("SLOW_MODULES"))
def test_every_slow_module_left_out_of_the_quick_subset_exists(module: str) -> None:
    """A renamed module would otherwise fall silently into the quick subset."""
    assert (ROOT / module).is_file(), f"noxfile.py SLOW_MODULES names a missing {module}"


def test_ci_runs_the_oldest_and_the_newest_python_in_full_and_the_others_quick() -> None:
    """.ci/run's versions follow PYTHONS: the oldest runs the README's command, nox the whole
    suite on the newest and the quick subset on each version between them, so a version added
    to the matrix is added to CI too."""
    pythons = _noxfile_value("PYTHONS")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert f"oldest={pythons[0]}" in ci
    sessions = [f"tests-{pythons[-1]}", *(f"quick-{version}" for version in pythons[1:-1])]
    assert f"-s {' '.join(sessions)}" in ci
    assert f"nox -s {' '.join(sessions)}" in ci  # what it says it runs
