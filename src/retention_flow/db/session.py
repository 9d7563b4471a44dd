"""Engine and session factory. Nothing is created at import time."""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlmodel import Session

from ..core import strict_json
from ..core.config import Settings, ensure_sqlite_dir
from .sqlite_checkpoint import BACKSTOP_PAGES, Checkpointer

#: Execution option asking a SQLite transaction to take the write lock at BEGIN.
#: Without it a read-then-write transaction can fail to upgrade its lock when another
#: writer committed in between (SQLITE_BUSY_SNAPSHOT), even with a busy timeout.
SQLITE_IMMEDIATE = "retention_flow_sqlite_immediate"


def create_db_engine(url: str, settings: Settings | None = None) -> Engine:
    settings = settings or Settings()
    sa_url = make_url(url)
    if sa_url.get_backend_name() == "sqlite":
        ensure_sqlite_dir(url)
        engine = create_engine(
            url,
            json_serializer=strict_json.dumps,
            connect_args={
                "check_same_thread": False,
                "timeout": settings.sqlite_busy_timeout_ms / 1000,
            },
        )
        checkpointer = _checkpointer(sa_url.database, settings)
        _configure_sqlite(engine, settings.sqlite_busy_timeout_ms, checkpointer)
        return engine
    kwargs: dict[str, Any] = {
        "pool_pre_ping": True,
        "pool_size": settings.db_pool_size,
        # one encoder for every JSON column: what it refuses, no path can store
        "json_serializer": strict_json.dumps,
    }
    return create_engine(url, **kwargs)


#: each SQLite file engine's background checkpointer
CHECKPOINTERS: weakref.WeakKeyDictionary[Engine, Checkpointer] = weakref.WeakKeyDictionary()


def _checkpointer(database: str | None, settings: Settings) -> Checkpointer | None:
    """A background checkpointer for a SQLite file (``sqlite_checkpoint``), unless
    switched off or the database lives in memory."""
    interval = settings.sqlite_checkpoint_interval_ms
    if interval <= 0 or not database or database == ":memory:" or "mode=memory" in database:
        return None
    return Checkpointer(database, interval / 1000, settings.sqlite_busy_timeout_ms)


def _configure_sqlite(
    engine: Engine, busy_timeout_ms: int, checkpointer: Checkpointer | None
) -> None:
    if checkpointer is not None:
        CHECKPOINTERS[engine] = checkpointer
        # the thread ends with the engine: on dispose, or when the engine is collected
        event.listen(engine, "engine_disposed", lambda _engine: checkpointer.stop())
        weakref.finalize(engine, checkpointer.stop)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        if checkpointer is not None:
            # commits checkpoint only as a backstop; the thread does it off the step
            cur.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
            checkpointer.ensure_running()
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get(SQLITE_IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


@contextmanager
def write_session(engine: Engine) -> Iterator[Session]:
    """A session whose transaction is a writer from its first statement.

    On SQLite this takes the database write lock at BEGIN (waiting up to the busy
    timeout); on PostgreSQL it is an ordinary transaction (row locks do the work).
    The caller commits; leaving the block without a commit rolls back.
    """
    with Session(engine, expire_on_commit=False) as session:
        if is_sqlite(engine):
            session.connection(execution_options={SQLITE_IMMEDIATE: True})
        yield session


def read_session(engine: Engine) -> Session:
    return Session(engine, expire_on_commit=False)
