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

from retention_flow.services.cases import reads as queries
from retention_flow.services.platform.background import BackgroundWorker
from retention_flow.services.platform.bootstrap import build_context
from retention_flow.services.platform.context import AppContext

from .. import __version__, web
from ..core.config import Settings, get_settings
from . import deps, errors
from .metrics import BodyLimitMiddleware, Metrics, MetricsMiddleware
from .routes import (
    audit,
    auth,
    case_control,
    cases,
    incidents,
    insight,
    kpis,
    messages,
    migrations,
    partners,
    payouts,
    processes,
    qa,
    routing,
    scans,
    signals,
    tasks,
    whatif,
)


class UnsafeConfiguration(RuntimeError):
    """The settings must not serve (e.g. production with the placeholder secret)."""


def check_settings(settings: Settings) -> None:
    problems = settings.startup_problems()
    if problems:
        raise UnsafeConfiguration("refusing to start: " + "; ".join(problems))


def create_app(ctx: AppContext | None = None, *, worker: bool | None = None) -> FastAPI:
    """The app. ``worker``: run the background worker (timers, jobs) in this process;
    by default (None) it runs when the app builds its own context (``serve``, uvicorn's
    ``--factory``) and ``RETENTION_FLOW_SERVE_WORKER`` is true, not when it is handed a
    context (tests, embedding)."""
    check_settings(ctx.settings if ctx is not None else get_settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.ctx = ctx or build_context()
        context: AppContext = app.state.ctx
        before_gc = gc.get_threshold()
        if context.settings.api_gc_thresholds is not None:
            gc.set_threshold(*context.settings.api_gc_thresholds)
        if context.script_pool is not None:
            context.script_pool.start()  # not on the first request that runs a script
        threads = context.settings.api_threads_for(context.db.dialect.name)
        if threads:
            # fewer threads than anyio's 40: less GIL convoying under load
            anyio.to_thread.current_default_thread_limiter().total_tokens = threads
        runs_worker = (
            worker if worker is not None else (ctx is None and context.settings.serve_worker)
        )
        background = BackgroundWorker(context) if runs_worker else None
        app.state.worker = background
        if background is not None:
            background.start()
        yield
        if background is not None:
            await anyio.to_thread.run_sync(background.stop)
        gc.set_threshold(*before_gc)  # process-wide: as it was (tests build many apps)
        if ctx is None:
            app.state.ctx.dispose()

    app = FastAPI(title="retention-flow", version=__version__, lifespan=lifespan)
    app.state.ctx = ctx
    app.state.metrics = metrics = Metrics(lambda: getattr(app.state, "ctx", None))
    errors.install(app)
    routers = (auth, processes, cases, case_control, incidents, messages, signals, tasks, audit)
    extra = (partners, kpis, qa, payouts, scans, migrations, insight, routing, whatif)
    for module in (*routers, *extra):
        app.include_router(module.router, responses=_PROBLEMS)
    settings = ctx.settings if ctx is not None else get_settings()
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_upload_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)

    @app.get("/health", tags=["ops"])
    async def health() -> dict[str, str]:
        """Liveness: the process answers. On the event loop, not the request threads: a
        probe must not queue behind requests that wait (for a script worker, a lock...)."""
        return {"status": "ok"}

    @app.get("/ready", tags=["ops"], responses={503: {"description": "not ready"}})
    def ready(request: Request) -> JSONResponse:
        """Readiness: the database answers and its schema is at the current migration."""
        state = queries.database_ready(request.app.state.ctx)
        return JSONResponse(state, status_code=200 if state["ready"] else 503)

    @app.get("/metrics", tags=["ops"], response_class=Response, responses=_METRICS_PROBLEMS)
    def prometheus(ctx: deps.CtxDep, token: deps.BearerToken) -> Response:
        """Prometheus metrics, for the metrics token (``RETENTION_FLOW_METRICS_TOKEN``) or
        an ``admin``/``system`` user's bearer token."""
        metrics.check_access(ctx, token)
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
        (413, "too large: the request body, or case data past a limit (`errors[].limit`)"),
        (
            422,
            "invalid input: a field that does not validate (`errors[].field` names its path); "
            "JSON that is not interoperable (NaN, Infinity, a lone surrogate, an integer "
            "beyond 2**53, a duplicate key); malformed JSON, whose `errors[0]` carries the "
            "line and column",
        ),
    )
}
_METRICS_PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: _PROBLEMS[status] for status in (401, 403)
}
