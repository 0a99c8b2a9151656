"""benchmarks/soak.py, shortened: a 30 s run and 1,000 short runs leave nothing behind."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SOAK = Path(__file__).resolve().parent.parent / "benchmarks" / "soak.py"
# The soak takes about 50 s of wall time on an idle machine (30 s paced, 1,000 short runs in
# about 20 s) but over 110 s on 2 cores shared with three busy processes: the short runs are
# thread hand-offs that wait for a core each time. The suite's 120 s default is too tight.
SOAK_TIMEOUT_S = 420


@pytest.mark.timeout(SOAK_TIMEOUT_S + 30)
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
        timeout=SOAK_TIMEOUT_S,
        cwd=tmp_path,
    )
    table = result.stdout + result.stderr
    assert result.returncode == 0, table
    verdicts = {v["scenario"]: v for v in json.loads(report.read_text())}
    long, churn = verdicts["long"], verdicts["churn"]
    assert long["frames"] >= 800, table  # 30 s at 30 FPS, paced: the run really lasted
    assert len(long["samples"]) >= 25, table
    assert churn["frames"] >= 1000, table
    for verdict in (long, churn):
        assert verdict["rss_growth_mb"] < 10.0, table
        assert verdict["thread_growth"] <= 0, table
        assert verdict["fd_growth"] <= 0, table
        assert verdict["handler_growth"] <= 0, table
