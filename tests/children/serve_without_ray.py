"""Run ``framepipe serve`` with this program's arguments in a Python where importing ray fails
(as where it is not installed); exits with the CLI's code."""

from __future__ import annotations

import sys

from without_ray import NoRay  # this program's directory is the first on the path

if __name__ == "__main__":
    sys.meta_path.insert(0, NoRay())  # type: ignore[arg-type]
    from framepipe.cli import main

    raise SystemExit(main(["serve", *sys.argv[1:]]))
