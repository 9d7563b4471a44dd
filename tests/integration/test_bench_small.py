"""bench/heatmap.py and bench/whatif.py run small, so that CI sees them work and print
their figures (SQLite only: the benches' PostgreSQL variables are left out)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> str:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("RETENTION_FLOW_BENCH_PG_URL", "RETENTION_FLOW_TEST_DATABASE_URL")
    }
    done = subprocess.run(  # noqa: S603
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_heatmap_bench_prints_times_and_ratios() -> None:
    out = _run("bench/heatmap.py", "--sizes", "40,80", "--rounds", "1", "--window", "10")
    lines = [line for line in out.splitlines() if line.startswith("SQLite:")]
    assert len(lines) == 2 and "80 cases" in lines[1] and "rollup rebuilt in" in lines[1]
    rollup = [line for line in out.splitlines() if line.startswith("  rollup:")]
    assert len(rollup) == 2 and "raw/rollup" in rollup[1] and "the 40-case time" in rollup[1]


def test_whatif_bench_prints_times_and_ratios() -> None:
    out = _run("bench/whatif.py", "--cases", "20", "--volumes", "1,3", "--rounds", "1")
    assert "3x, scaled staffing:" in out and "the 1x wall time" in out and "suggestion at 3x" in out
