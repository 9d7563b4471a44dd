"""Server-rendered pages over the service layer (``ui/templates``, ``ui/static``).

``install(app)`` is the one place that registers them: it mounts ``/static``, includes
each page module's router (``PAGES``) and turns errors on pages into pages. Page modules
call services directly (never the HTTP API) and build their router with
``session.page_router()`` (CSRF on every unsafe request, tagged ``web``).
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from . import (
    auditor,
    dashboard,
    errors,
    incentives,
    insight,
    login,
    migrations,
    operations,
    operations_cases,
    owner,
    owner_tools,
    partner,
    plans,
    queue,
    scans,
    self_service,
    settlements,
    skills,
    task,
    team,
    whatif,
)
from .headers import SecurityHeadersMiddleware
from .templating import STATIC_DIR

#: page modules, each with a ``router``; add new page groups here
PAGES = (
    login,
    queue,
    task,
    team,
    skills,
    partner,
    scans,
    owner,
    owner_tools,
    migrations,
    operations,
    operations_cases,
    auditor,
    settlements,
    dashboard,
    incentives,
    plans,
    insight,
    self_service,
    whatif,
)


def install(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for module in PAGES:
        app.include_router(module.router)
    errors.install(app)
    app.add_middleware(SecurityHeadersMiddleware)
