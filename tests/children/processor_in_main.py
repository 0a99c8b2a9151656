"""A script that defines its processor in ``__main__`` and hands it to ``run_streams``: prints
the ValueError that refuses it."""

from __future__ import annotations

from framepipe import run_streams


def sharpen(frame: object) -> object:
    return frame


if __name__ == "__main__":
    try:
        run_streams(["synthetic:64x48@30:1"] * 2, processor=sharpen)  # type: ignore[arg-type]
    except ValueError as exc:
        print(exc)
