"""Build the application context for a process (CLI, API server, worker)."""

from __future__ import annotations

from retention_flow.core.clock import Clock
from retention_flow.core.config import Settings, get_settings
from retention_flow.db.migrate import is_current, upgrade
from retention_flow.services.platform.context import AppContext


def build_context(
    settings: Settings | None = None, *, clock: Clock | None = None, migrate: bool | None = None
) -> AppContext:
    """An ``AppContext`` on a database at the current schema (migrated on first run)."""
    settings = settings or get_settings()
    from retention_flow.services.steps.handlers import default_service_handlers

    ctx = AppContext(settings, clock=clock, service_handlers=default_service_handlers())
    if (migrate if migrate is not None else settings.auto_migrate) and not is_current(ctx.db):
        upgrade(ctx.db)
    return ctx
