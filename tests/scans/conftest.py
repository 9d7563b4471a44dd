"""Scan intake fixtures: the product bundle deployed, a mail-response case, its form."""

from __future__ import annotations

import io
import json
import os
import random
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import func, select

from retention_flow.api.app import create_app
from retention_flow.core.config import Settings
from retention_flow.db.session import read_session
from retention_flow.db.tables import AUDIT_EVENT
from retention_flow.engine.bundle import load_bundle_path
from retention_flow.ocr import FormData, Offer, load_template, render_image
from retention_flow.ocr.errors import OcrUnavailable
from retention_flow.ocr.readers import make_reader
from retention_flow.ocr.synthetic import fill
from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.cases.views import CaseView
from retention_flow.services.people import users
from retention_flow.services.platform.context import Actor, AppContext
from retention_flow.services.process_models import deployments as processes
from retention_flow.services.scans import intake as scans
from tests.factories import OWNER

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "processes" / "retention"
START = json.loads((BUNDLE / "scenarios.json").read_text())["bundles"]["mail_response"][
    "start_data"
]
BACK = Actor("bea", frozenset({"back_office"}))
PASSWORD = "correct horse battery"


@pytest.fixture(scope="session")
def ocr_engine() -> None:
    try:
        make_reader("auto")
    except OcrUnavailable as exc:
        pytest.skip(f"Tesseract not installed: {exc.detail}")


#: a Redis database of its own for the Celery tests (each run also uses its own queue)
REDIS_URL = "redis://127.0.0.1:6379/11"


@pytest.fixture(scope="session")
def redis_url() -> str:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {exc}")
    return REDIS_URL


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(
        database_url=db_url,
        script_budget_seconds=0.5,
        password_hash_time_cost=1,
        password_hash_memory_kib=64,
    )


@pytest.fixture
def ctx(product_ctx: AppContext) -> AppContext:
    processes.deploy(product_ctx, load_bundle_path(BUNDLE), OWNER)
    return product_ctx


@pytest.fixture
def mail_case(ctx: AppContext) -> CaseView:
    case = cases.start_case(ctx, BACK, "mail_response", START)
    return cases.get_case(ctx, case.id)


def form_png(
    case: CaseView | dict[str, Any], ticks: tuple[int, ...] = (0,), signed: bool = True
) -> bytes:
    """The case's (or a ``{"data": ...}`` stand-in's) response form as printed, filled in
    by the customer, scanned as PNG."""
    template = load_template(scans.TEMPLATES_DIR / "retention_offer_v1")
    data = case.data if isinstance(case, CaseView) else case["data"]
    offers = tuple(Offer(code, code.replace("_", " ").title()) for code in data["eligible_offers"])
    blank = render_image(
        template, FormData(data["case_number"], data["customer_name"], ("Street 1",), offers)
    )
    filled = fill(
        blank, template, ticks=ticks, date_text="05.01.2026", signed=signed, rng=random.Random(3)
    )
    buffer = io.BytesIO()
    filled.save(buffer, "PNG")
    return buffer.getvalue()


def run_cli(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``retention-flow ARGS`` in a subprocess against the test database."""
    env = {**os.environ, "RETENTION_FLOW_DATABASE_URL": db_url}
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "retention_flow.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def messages_to(ctx: AppContext, case_id: str) -> int:
    """How many messages were correlated to a case (its audit trail says)."""
    with read_session(ctx.db) as session:
        query = (
            select(func.count())
            .select_from(AUDIT_EVENT)
            .where(AUDIT_EVENT.c.case_id == case_id, AUDIT_EVENT.c.type == "message_correlated")
        )
        return int(session.execute(query).scalar_one())


def blank_png(size: tuple[int, int] = (1240, 1754)) -> bytes:
    """A white page: no form on it."""
    buffer = io.BytesIO()
    Image.new("L", size, 255).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def client(ctx: AppContext) -> Iterator[TestClient]:
    with TestClient(create_app(ctx), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def auth(ctx: AppContext, client: TestClient) -> Callable[[str, str], dict[str, str]]:
    def make(name: str, role: str) -> dict[str, str]:
        users.add_user(ctx, name, PASSWORD, [role], None)
        response = client.post("/api/auth/token", data={"username": name, "password": PASSWORD})
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    return make
