"""The FastAPI application: routers over the service layer, one error mapping,
operational endpoints (``/health``, ``/ready``, ``/metrics``)."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .. import __version__, web
from ..core.config import Settings, get_settings
from ..services import queries
from ..services.bootstrap import build_context
from ..services.context import AppContext
from . import errors
from .metrics import BodyLimitMiddleware, Metrics, MetricsMiddleware
from .routes import (
    audit,
    auth,
    cases,
    kpis,
    messages,
    partners,
    payouts,
    processes,
    qa,
    scans,
    signals,
    tasks,
)


class UnsafeConfiguration(RuntimeError):
    """The settings must not serve (e.g. production with the placeholder secret)."""


def check_settings(settings: Settings) -> None:
    problems = settings.startup_problems()
    if problems:
        raise UnsafeConfiguration("refusing to start: " + "; ".join(problems))


def create_app(ctx: AppContext | None = None) -> FastAPI:
    check_settings(ctx.settings if ctx is not None else get_settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.ctx = ctx or build_context()
        context: AppContext = app.state.ctx
        before_gc = gc.get_threshold()
        if context.settings.api_gc_thresholds is not None:
            gc.set_threshold(*context.settings.api_gc_thresholds)
        threads = context.settings.api_threads_for(context.db.dialect.name)
        if threads:
            # fewer threads than anyio's 40: less GIL convoying under load
            anyio.to_thread.current_default_thread_limiter().total_tokens = threads
        yield
        gc.set_threshold(*before_gc)  # process-wide: as it was (tests build many apps)
        if ctx is None:
            app.state.ctx.dispose()

    app = FastAPI(title="retention-flow", version=__version__, lifespan=lifespan)
    app.state.ctx = ctx
    app.state.metrics = metrics = Metrics(lambda: getattr(app.state, "ctx", None))
    errors.install(app)
    for module in (
        auth,
        processes,
        cases,
        messages,
        signals,
        tasks,
        audit,
        partners,
        kpis,
        qa,
        payouts,
        scans,
    ):
        app.include_router(module.router, responses=_PROBLEMS)
    settings = ctx.settings if ctx is not None else get_settings()
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_upload_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)

    @app.get("/health", tags=["ops"])
    def health() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/ready", tags=["ops"], responses={503: {"description": "not ready"}})
    def ready(request: Request) -> JSONResponse:
        """Readiness: the database answers and its schema is at the current migration."""
        state = queries.database_ready(request.app.state.ctx)
        return JSONResponse(state, status_code=200 if state["ready"] else 503)

    @app.get("/metrics", tags=["ops"], response_class=Response)
    def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    web.install(app)  # the pages (after the API's error handlers, which it wraps)
    return app


_PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"description": text, "content": {"application/problem+json": {}}}
    for status, text in (
        (401, "not authenticated"),
        (403, "not allowed"),
        (404, "not found"),
        (409, "conflict"),
        (422, "invalid input"),
    )
}
