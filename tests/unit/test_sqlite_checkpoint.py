"""SQLite WAL checkpoints off the step path (db/sqlite_checkpoint.py, db/session.py)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from sqlalchemy import Engine, text

from retention_flow.core.config import Settings
from retention_flow.db.session import CHECKPOINTERS, create_db_engine
from retention_flow.db.sqlite_checkpoint import BACKSTOP_PAGES, Checkpointer

#: long enough that the thread never runs a round by itself during a test
NEVER_MS = 3_600_000


def _engine(path: Path, interval_ms: int) -> Engine:
    url = f"sqlite:///{path}"
    return create_db_engine(
        url, Settings(database_url=url, sqlite_checkpoint_interval_ms=interval_ms)
    )


def _write(engine: Engine, rows: int) -> None:
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, body TEXT)"))
    for i in range(rows):
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO t (body) VALUES (:b)"), {"b": f"{i:04d}" * 500})


def _autocheckpoint(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one())


def test_commits_checkpoint_only_as_a_backstop_and_the_thread_copies_the_log(
    tmp_path: Path,
) -> None:
    engine = _engine(tmp_path / "a.db", NEVER_MS)
    try:
        assert _autocheckpoint(engine) == BACKSTOP_PAGES
        checkpointer = CHECKPOINTERS.get(engine)
        assert checkpointer is not None and checkpointer.running
        _write(engine, 50)
        done = checkpointer.run_once()
        assert not done.busy
        assert done.log_frames > 0
        assert done.checkpointed == done.log_frames
        # what was copied is in the database file: a connection outside WAL mode's
        # shared memory (a copy of the file alone) reads every row
        copy = tmp_path / "copy.db"
        copy.write_bytes((tmp_path / "a.db").read_bytes())
        with sqlite3.connect(copy) as conn:
            assert conn.execute("SELECT count(*) FROM t").fetchone() == (50,)
    finally:
        engine.dispose()


def test_the_thread_checkpoints_by_itself(tmp_path: Path) -> None:
    engine = _engine(tmp_path / "b.db", 1)
    try:
        checkpointer = CHECKPOINTERS.get(engine)
        assert checkpointer is not None
        _write(engine, 20)
        seen = threading.Event()
        checkpointer.on_round = lambda result: seen.set() if result.log_frames > 0 else None
        assert seen.wait(10), "no checkpoint round within 10 s"
    finally:
        engine.dispose()


def test_dispose_stops_the_thread_and_a_new_connection_starts_it(tmp_path: Path) -> None:
    engine = _engine(tmp_path / "c.db", NEVER_MS)
    checkpointer = CHECKPOINTERS.get(engine)
    assert checkpointer is not None
    _write(engine, 1)
    engine.dispose()
    assert not checkpointer.running
    _write(engine, 1)  # the engine stays usable after dispose, and so does the thread
    assert checkpointer.running
    engine.dispose()
    assert not checkpointer.running


def test_switched_off_or_in_memory_commits_checkpoint_as_sqlite_does(tmp_path: Path) -> None:
    off = _engine(tmp_path / "d.db", 0)
    memory = create_db_engine("sqlite://")
    try:
        assert CHECKPOINTERS.get(off) is None
        assert _autocheckpoint(off) == 1000
        assert CHECKPOINTERS.get(memory) is None
    finally:
        off.dispose()
        memory.dispose()


def test_a_round_that_fails_is_logged_and_the_next_one_runs(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "dir" / "e.db"
    checkpointer = Checkpointer(str(missing), 0.001, busy_timeout_ms=10)
    failures = threading.Event()
    checkpointer.on_error = lambda _exc: failures.set()
    checkpointer.ensure_running()
    try:
        assert failures.wait(10)
        assert checkpointer.running
    finally:
        checkpointer.stop()
    assert not checkpointer.running
