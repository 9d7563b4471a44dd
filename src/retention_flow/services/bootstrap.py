"""Build the application context for a process (CLI, API server, worker)."""

from __future__ import annotations

from ..core.clock import Clock
from ..core.config import Settings, get_settings
from ..db.migrate import is_current, upgrade
from .context import AppContext


def build_context(
    settings: Settings | None = None, *, clock: Clock | None = None, migrate: bool | None = None
) -> AppContext:
    """An ``AppContext`` on a database at the current schema (migrated on first run)."""
    settings = settings or get_settings()
    from .handlers import default_service_handlers

    ctx = AppContext(settings, clock=clock, service_handlers=default_service_handlers())
    if (migrate if migrate is not None else settings.auto_migrate) and not is_current(ctx.db):
        upgrade(ctx.db)
    return ctx
