"""Small runs of the scale benches, as a person runs them (the script in a subprocess):
``bench/scale_out.py`` with 1 and 2 serving processes (on the test's kind of database)
and ``bench/growth.py`` on two small sizes. They prove the benches work; their figures
come from the long runs by hand (README, Tests and benchmarks)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy.engine import make_url

from tests.procs import SRC

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _bench(script: str, *args: str, env: dict[str, str], cwd: Path) -> str:
    done = subprocess.run(  # noqa: S603 (our own bench)
        [sys.executable, str(BENCH / script), *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(SRC), **env},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    return done.stdout


def test_scale_out_small(db_url: str, tmp_path: Path) -> None:
    kind = make_url(db_url).get_backend_name()
    where = (
        ["--sqlite"]
        if kind == "sqlite"
        else ["--pg-url", os.environ["RETENTION_FLOW_TEST_DATABASE_URL"]]
    )
    out = _bench(
        "scale_out.py", "--processes", "1,2", "--seconds", "4", "--agents", "2", "--warmup", "1",
        *where, env={}, cwd=tmp_path,
    )  # fmt: skip
    rows = [line.split() for line in out.splitlines() if line.strip()[:2] in ("1 ", "2 ")]
    assert [r[0] for r in rows[:2]] == ["1", "2"], out
    assert all(float(r[2]) > 0 for r in rows[:2]), out  # tasks/s: work got done
    assert "scaling" in out, out


def test_growth_small(db_url: str, tmp_path: Path) -> None:
    env = {"RETENTION_FLOW_BENCH_PG_URL": ""}
    if make_url(db_url).get_backend_name() == "postgresql":
        env["RETENTION_FLOW_BENCH_PG_URL"] = os.environ["RETENTION_FLOW_TEST_DATABASE_URL"]
    # 100 a day: most cases ended, with the full history's retries and worked tasks
    args = ("--sizes", "300,600", "--per-day", "100", "--samples", "5")
    out = _bench("growth.py", *args, env=env, cwd=tmp_path)
    for call in ("queue", "search_key", "search_customer", "case", "history", "verify_case"):
        assert any(line.startswith(call) for line in out.splitlines()), out
    assert "full verification, events/s: 300:" in out, out
    loaded = [line for line in out.splitlines() if "audit events, chained" in line]
    backends = 2 if env["RETENTION_FLOW_BENCH_PG_URL"] else 1  # SQLite, and PostgreSQL if set
    assert len(loaded) == 2 * backends, out
