"""A small run of bench/simulate_day.py's HTTP mode, as a person runs it (the script in a
subprocess): a few dozen cases of processes/retention over loopback HTTP against
``retention-flow up --api 1`` on the simulated clock, on the test's kind of database (on
PostgreSQL in a scratch ``daysim_*`` database that must be gone afterwards). It proves the
mode works end to end; the figures at 1x/10x/50x come from the runs by hand (README)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from retention_flow.db.session import create_db_engine
from tests.procs import SRC

BENCH = Path(__file__).resolve().parents[2] / "bench" / "simulate_day.py"
ENDPOINTS = ("start", "queue", "claim", "get", "complete")


def test_day_over_http_small(db_url: str, tmp_path: Path) -> None:
    pg = make_url(db_url).get_backend_name() == "postgresql"
    where = ["--pg-url", os.environ["RETENTION_FLOW_TEST_DATABASE_URL"]] if pg else ["--sqlite"]
    done = subprocess.run(  # noqa: S603 (our own bench)
        [
            sys.executable, str(BENCH), "--http", *where, "--api", "1", "--multiples", "1",
            "--speed", "3600", "--share", "0.0015", "--startup", "15",
        ],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(SRC)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )  # fmt: skip
    out = done.stdout
    assert done.returncode == 0, out + done.stderr[-3000:]
    assert "Volume model" in out and "peak-hour factor of the arrivals" in out, out
    started = re.search(r"1x: (\d+) of (\d+) cases started .*?, (\d+) tasks completed", out)
    assert started is not None, out
    assert started[1] == started[2] == "30", out  # every planned case was started
    assert int(started[3]) >= 15, out  # the simulated people worked their queues
    p95 = re.search(r"p95 ms \(p50\) per endpoint: (.*)", out)
    assert p95 is not None and all(f"{e} " in p95[1] for e in ENDPOINTS), out
    refused = re.search(r"refused: (.*)", out)
    assert refused is not None and " 5" not in refused[1], out  # no server error
    assert re.search(r"SLA adherence at 20:00 .*: \d+\.\d% of \d+", out), out
    assert re.search(r"backlog at 20:00 \(ready or claimed\): \d+", out), out
    assert re.search(r"timers pending", out), out
    assert "headroom: highest multiple sustained" in out, out
    if pg:
        name = re.search(r"database (daysim_\w+) \(dropped afterwards\)", out)
        assert name is not None, out
        admin = create_db_engine(os.environ["RETENTION_FLOW_TEST_DATABASE_URL"])
        with admin.connect() as conn:
            left = conn.execute(
                text("SELECT count(*) FROM pg_database WHERE datname = :n"), {"n": name[1]}
            ).scalar_one()
        admin.dispose()
        assert left == 0
