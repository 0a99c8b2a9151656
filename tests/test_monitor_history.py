"""History: the charts' last ten minutes, bounded, one point per document."""

from __future__ import annotations

import json

from framepipe.monitor.history import History, chart_point


def document(fps: float) -> dict[str, object]:
    stream = {"fps": fps, "frame_ms": {"p50": 1.0, "p99": 2.0}, "budget_ms": 33.3}
    return {
        "memory_mb": 50.0,
        "cpu_percent": 3.0,
        "logging": {"queue_size": 1, "queue_maxsize": 10},
        "pipeline": stream,
        "streams": [{"stream": "a", "cpu_percent": 9.0, **stream}],
    }


def test_only_the_last_maxlen_points_are_kept_oldest_first() -> None:
    history = History(maxlen=3)
    for fps in range(5):
        history.add(document(float(fps)))
    assert [point["pipeline"]["fps"] for point in history.points()] == [2.0, 3.0, 4.0]


def test_a_point_holds_what_the_charts_draw() -> None:
    point = chart_point(document(30.0))
    assert point["pipeline"] == {"fps": 30.0, "p50": 1.0, "p99": 2.0, "budget_ms": 33.3}
    assert point["streams"]["a"]["cpu_percent"] == 9.0
    assert point["queue_maxsize"] == 10


def test_the_json_is_built_once_per_point_added() -> None:
    """Readers between two points share one encoding; a new point makes a new one."""
    history = History()
    history.add(document(1.0))
    first = history.json()
    assert history.json() is first
    history.add(document(2.0))
    second = history.json()
    assert second is not first
    assert json.loads(second) == history.points()
