"""Run ``framepipe run synthetic --engine ray --quiet`` in a Python where importing ray fails
(as where it is not installed); exits with the CLI's code."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType


class NoRay:
    """A finder that says ray and its submodules do not exist."""

    def find_spec(
        self, name: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if name == "ray" or name.startswith("ray."):
            raise ModuleNotFoundError("No module named 'ray'", name=name)
        return None


if __name__ == "__main__":
    sys.meta_path.insert(0, NoRay())  # type: ignore[arg-type]
    from framepipe.cli import main

    raise SystemExit(main(["run", "synthetic", "--engine", "ray", "--quiet"]))
