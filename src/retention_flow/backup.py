"""Backups of the database: ``retention-flow backup FILE`` and ``restore FILE``.

PostgreSQL: ``pg_dump --format=custom`` (a consistent snapshot taken while the service
runs: one repeatable-read transaction) and ``pg_restore`` into an empty database.
SQLite: the sqlite3 online backup API (a consistent copy while other processes write;
WAL included), and the same API back into a new file.

Not in the backup, on purpose: the audit keys (``RETENTION_FLOW_AUDIT_KEY_FILE`` /
``RETENTION_FLOW_AUDIT_KEYS``) -- keep them in the secret store, apart from the data they
seal -- and the checkpoint file, which is copied off the machine on its own. A restored
database verifies with the same keys; checkpoints signed *after* the backup name heads
the restored database does not have, which ``verify-audit`` reports: the trail tells
that history was rolled back.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from .core.errors import RetentionFlowError


class BackupFailed(RetentionFlowError):
    code = "backup_failed"
    title = "Backup failed"


def _libpq(url: str) -> str:
    """The SQLAlchemy URL as libpq understands it (without the driver name)."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupFailed("an in-memory SQLite database has nothing to back up")
    return Path(database)


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupFailed(f"{name} not found (Debian: apt-get install postgresql-client)")
    return found


def _run(cmd: list[str]) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise BackupFailed(f"{Path(cmd[0]).name} failed: {done.stderr.strip()[-2000:]}")


def _sqlite_copy(source: Path, target: Path) -> None:
    src = sqlite3.connect(source)
    dst = sqlite3.connect(target)
    try:
        with dst:
            src.backup(dst)
    finally:
        dst.close()
        src.close()


def backup(url: str, target: Path) -> dict[str, Any]:
    """Write a consistent copy of the database at ``url`` to ``target`` (a new file)."""
    if target.exists():
        raise BackupFailed(f"{target} exists: a backup goes to a new file")
    kind = make_url(url).get_backend_name()
    if kind == "sqlite":
        _sqlite_copy(_sqlite_path(url), target)
    elif kind == "postgresql":
        _run([_tool("pg_dump"), "--format=custom", "--file", str(target), _libpq(url)])
    else:
        raise BackupFailed(f"no backup for {kind}")
    return {"backup": str(target), "kind": kind, "bytes": target.stat().st_size}


def restore(source: Path, url: str) -> dict[str, Any]:
    """Restore ``source`` into the database at ``url``, which must be empty (a new SQLite
    file, or a PostgreSQL database just created)."""
    if not source.exists():
        raise BackupFailed(f"{source} not found")
    kind = make_url(url).get_backend_name()
    if kind == "sqlite":
        path = _sqlite_path(url)
        if path.exists() and path.stat().st_size:
            raise BackupFailed(f"{path} exists: restore into a new file")
        _sqlite_copy(source, path)
    elif kind == "postgresql":
        cmd = [_tool("pg_restore"), "--no-owner", "--exit-on-error", "--single-transaction"]
        _run([*cmd, "--dbname", _libpq(url), str(source)])
    else:
        raise BackupFailed(f"no restore for {kind}")
    return {"restored": str(source), "into": make_url(url).render_as_string(), "kind": kind}
