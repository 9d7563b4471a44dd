"""The FastAPI application (the full REST API is built on the service layer)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from .. import __version__
from ..services.bootstrap import build_context
from ..services.context import AppContext


def create_app(ctx: AppContext | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.ctx = ctx or build_context()
        yield
        if ctx is None:
            app.state.ctx.dispose()

    app = FastAPI(title="retention-flow", version=__version__, lifespan=lifespan)

    @app.get("/health", tags=["ops"])
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
