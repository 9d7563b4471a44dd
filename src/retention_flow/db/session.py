"""Engine and session factory. Nothing is created at import time."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlmodel import Session

from ..core import strict_json
from ..core.config import Settings, ensure_sqlite_dir

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
        _configure_sqlite(engine, settings.sqlite_busy_timeout_ms)
        return engine
    kwargs: dict[str, Any] = {
        "pool_pre_ping": True,
        "pool_size": settings.db_pool_size,
        # one encoder for every JSON column: what it refuses, no path can store
        "json_serializer": strict_json.dumps,
    }
    return create_engine(url, **kwargs)


def _configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
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
