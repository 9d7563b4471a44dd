"""Prometheus metrics: request latency by route, cases started/completed, queue sizes.

Each app has its own registry (tests build many apps in one process). Queue sizes are
read at scrape time with one grouped count over the queue index.

``GET /metrics`` is not public (queue sizes by role tell outsiders how busy each team
is): a scraper sends ``RETENTION_FLOW_METRICS_TOKEN`` as a bearer token, or a user's
access token with the ``admin`` or ``system`` role. Without either: 401; a user token
without those roles: 403. So a fresh install, with no token set, leaks nothing.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from retention_flow.services.cases import reads as queries
from retention_flow.services.people import auth
from retention_flow.services.platform.context import AppContext

from ..core.errors import AuthenticationFailed, Forbidden

#: user roles that may read the metrics with their own access token
METRICS_ROLES = frozenset({"admin", "system"})

BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class QueueSizes(Collector):
    def __init__(self, get_ctx: Any) -> None:
        self._get_ctx = get_ctx

    def collect(self) -> Iterator[GaugeMetricFamily]:
        gauge = GaugeMetricFamily(
            "retention_flow_work_items_open",
            "open work items by role and state",
            labels=["role", "state"],
        )
        ctx: AppContext | None = self._get_ctx()
        if ctx is not None:
            for role, state, count in queries.queue_sizes(ctx):
                gauge.add_metric([role, state], count)
        yield gauge


def check_metrics_access(ctx: AppContext, token: str | None) -> None:
    """Who may scrape: the configured metrics token, or an admin/system user's token."""
    if not token:
        raise AuthenticationFailed(
            "not authenticated: send the metrics token or an admin's bearer token"
        )
    configured = ctx.settings.metrics_token
    expected = configured.get_secret_value().strip() if configured is not None else ""
    # an empty setting is no token (startup refuses a short one)
    if expected and hmac.compare_digest(token.encode("utf-8"), expected.encode("utf-8")):
        return
    actor = auth.actor_for_token(ctx, token)
    if not actor.roles & METRICS_ROLES:
        raise Forbidden(f"the metrics need one of the roles: {', '.join(sorted(METRICS_ROLES))}")


class Metrics:
    def __init__(self, get_ctx: Any) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "retention_flow_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route", "status"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.cases_started = Counter(
            "retention_flow_cases_started",
            "cases started through the API",
            registry=self.registry,
        )
        self.cases_completed = Counter(
            "retention_flow_cases_completed",
            "cases completed by a task completion via the API",
            registry=self.registry,
        )
        self.registry.register(QueueSizes(get_ctx))

    @staticmethod
    def check_access(ctx: AppContext, token: str | None) -> None:
        check_metrics_access(ctx, token)


class MetricsMiddleware:
    """Times each HTTP request; the label is the route template, not the raw path."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "(unmatched)"
            self.metrics.latency.labels(scope["method"], path, str(status)).observe(
                time.perf_counter() - start
            )


class BodyLimitMiddleware:
    """Refuses bodies over the limit (413): by Content-Length before reading, or while
    reading when the length is not declared."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                from .errors import problem

                response = problem(
                    413,
                    "payload_too_large",
                    "Payload too large",
                    f"the request body is larger than {self.max_bytes} bytes",
                )
                await response(scope, receive, send)
                return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    scope["retention_flow.too_large"] = True
                    raise ValueError("request body too large")
            return message

        await self.app(scope, limited, send)
