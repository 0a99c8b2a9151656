"""What every timed measurement shares: percentiles, named summaries, and a GC-free block.

Percentiles are numpy's default ("linear") definition: rank ``q/100 * (n - 1)`` in the sorted
samples, interpolated between its two neighbours. Results are plain Python floats so they go
straight into JSON reports.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import numpy.typing as npt

__all__ = ["gc_disabled", "percentiles", "summarize"]


def percentiles(samples: npt.ArrayLike, qs: Sequence[float]) -> list[float]:
    """The ``q``-th percentiles (each 0..100) of ``samples``, in the order of ``qs``."""
    values = np.asarray(samples, dtype=np.float64)
    if values.size == 0:
        raise ValueError("samples must not be empty, but got no samples")
    for q in qs:
        if not 0 <= q <= 100:
            raise ValueError(f"q must be between 0 and 100, but got {q!r}")
    return [float(value) for value in np.percentile(values, list(qs), method="linear")]


def summarize(samples: npt.ArrayLike, keys: Sequence[str], scale: float = 1.0) -> dict[str, float]:
    """``{key: statistic}`` for keys ``"mean"``, ``"min"``, ``"max"`` and ``"pNN"`` (``"p99.9"``).

    Each sample is divided by ``scale`` first (e.g. ``1_000_000`` for ns -> ms), so the
    percentiles are interpolated in the unit reported.
    """
    values = np.asarray(samples, dtype=np.float64)
    if values.size == 0:
        raise ValueError("samples must not be empty, but got no samples")
    if scale != 1.0:
        values = values / scale
    wanted = {key: _percentile_of(key) for key in keys}
    ranks = [q for q in wanted.values() if q is not None]
    ranked = dict(zip(ranks, percentiles(values, ranks), strict=True)) if ranks else {}
    summary: dict[str, float] = {}
    for key, q in wanted.items():
        if q is not None:
            summary[key] = ranked[q]
        elif key == "mean":
            # Python's own float sum, as the reports always computed it, so the numbers stay
            # the same to the last bit (numpy's pairwise sum rounds differently).
            summary[key] = sum(values.tolist()) / values.size
        elif key == "min":
            summary[key] = float(values.min())
        else:
            summary[key] = float(values.max())
    return summary


def _percentile_of(key: str) -> float | None:
    """The q of a ``"pNN"`` key, None for mean/min/max; ValueError for anything else."""
    if key in ("mean", "min", "max"):
        return None
    try:
        q = float(key[1:]) if key.startswith("p") else -1.0
    except ValueError:
        q = -1.0
    if not 0 <= q <= 100:
        raise ValueError(f"statistic must be mean, min, max or pNN (0..100), but got {key!r}")
    return q


@contextmanager
def gc_disabled(collect: bool = False) -> Iterator[None]:
    """Switch the cyclic GC off for the block, as ``timeit`` does; restore it after.

    ``collect=True`` first runs a full collection, so every timed block starts with the same
    (empty) backlog instead of paying for garbage its predecessor left.
    """
    was_enabled = gc.isenabled()
    if collect:
        gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
