"""``retention-flow up``: serving processes, workers and OCR workers of one machine."""

from __future__ import annotations

from typing import Annotated

import typer


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
