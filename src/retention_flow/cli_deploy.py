"""``retention-flow up`` (serving processes, workers and OCR workers of one machine),
``backup`` and ``restore``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .cli_common import _out


def up(
    api: Annotated[int, typer.Option(min=1, help="serving processes (one port)")] = 2,
    workers: Annotated[
        int, typer.Option(min=0, help="worker processes (0: the serving processes run it)")
    ] = 1,
    ocr_workers: Annotated[
        int, typer.Option(min=0, help="Celery OCR workers (needs the broker URL)")
    ] = 0,
    ocr_concurrency: Annotated[int, typer.Option(min=1, help="processes per OCR worker")] = 1,
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
) -> None:
    """Run this machine's share of a deployment: migrate once, then start API processes
    on one port (SO_REUSEPORT), workers and OCR workers, restart any that dies, and stop
    them all on SIGTERM or Ctrl-C. One JSON line per process start on stdout."""
    from .core.config import get_settings
    from .db.migrate import upgrade
    from .db.session import create_db_engine
    from .supervisor import Shape, Supervisor

    settings = get_settings()
    if ocr_workers and not settings.celery_broker_url:
        raise typer.BadParameter("--ocr-workers needs RETENTION_FLOW_CELERY_BROKER_URL")
    engine = create_db_engine(settings.database_url)
    upgrade(engine, "head")
    engine.dispose()
    shape = Shape(
        api=api,
        workers=workers,
        ocr_workers=ocr_workers,
        ocr_concurrency=ocr_concurrency,
        host=host or settings.host,
        port=port or settings.port,
    )
    supervisor = Supervisor(shape.children())
    supervisor.handle_signals()
    supervisor.run()


def backup(
    target: Annotated[Path, typer.Argument(help="the backup file to write (a new file)")],
) -> None:
    """A consistent copy of the database while it serves (pg_dump --format=custom on
    PostgreSQL, the sqlite3 backup API on SQLite). Audit keys are not in it: keep them
    in the secret store."""
    from . import backup as backups
    from .core.config import get_settings

    _out(backups.backup(get_settings().database_url, target))


def restore(
    source: Annotated[Path, typer.Argument(help="a file written by `retention-flow backup`")],
    into: Annotated[
        str | None,
        typer.Option(help="an empty database URL (default: RETENTION_FLOW_DATABASE_URL)"),
    ] = None,
) -> None:
    """Restore a backup into an empty database (a new SQLite file, or a PostgreSQL
    database just created); then run `retention-flow verify-audit` against it."""
    from . import backup as backups
    from .core.config import get_settings

    _out(backups.restore(source, into or get_settings().database_url))
