"""bench/kpis.py, small (CI): a short history and one four times its length, the longer
copied in the database from the shorter (``--replicate-from``); every dashboard query
answers, the figures and ratios print, and both sizes answer alike (the 30-day window
reads the same newest block). On PostgreSQL too when the tests run there."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_kpi_bench_runs_small_and_a_longer_history_answers_the_same() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run(  # noqa: S603
        [
            sys.executable,
            str(ROOT / "bench" / "kpis.py"),
            "--sizes",
            "300,1200",
            "--per-day",
            "10",
            "--rounds",
            "1",
            "--replicate-from",
            "300",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    labels = ["SQLite"] + (
        ["PostgreSQL"] if os.environ.get("RETENTION_FLOW_TEST_DATABASE_URL") else []
    )
    for label in labels:
        assert f"{label}: 1,200 cases over 120 days loaded" in out, out
        assert f"{label}: the answers of every size are identical: yes" in out, out
        assert f"{label}: worst median ratio" in out
    for query in ("whole period", "by channel", "per day by agent", "per day by offer"):
        assert query in out
