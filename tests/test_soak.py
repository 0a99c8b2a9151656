"""benchmarks/soak.py, shortened: a 30 s run and 1,000 short runs leave nothing behind."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SOAK = Path(__file__).resolve().parent.parent / "benchmarks" / "soak.py"


def test_a_long_run_and_a_thousand_short_ones_stay_flat(tmp_path: Path) -> None:
    """RSS growth under 10 MB after warm-up, no thread, fd or logging-handler growth."""
    report = tmp_path / "soak.json"
    result = subprocess.run(
        [
            sys.executable,
            str(SOAK),
            "--duration",
            "30",
            "--pipelines",
            "1000",
            "--json",
            str(report),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    verdicts = {v["scenario"]: v for v in json.loads(report.read_text())}
    long, churn = verdicts["long"], verdicts["churn"]
    assert long["frames"] >= 800  # 30 s at 30 FPS, paced: the run really lasted
    assert len(long["samples"]) >= 25
    assert churn["frames"] >= 1000
    for verdict in (long, churn):
        assert verdict["rss_growth_mb"] < 10.0
        assert verdict["thread_growth"] <= 0
        assert verdict["fd_growth"] <= 0
        assert verdict["handler_growth"] <= 0
