"""Browser tests: the app served by uvicorn on 127.0.0.1 (a free port, in a thread) over a
fresh real database with demo-like data, driven by Playwright through Debian's Chromium.

No browser is downloaded (no ``playwright install``): Chromium comes from the system
(``scripts/test.sh`` installs the ``chromium`` package). Where it is missing the tests
skip with the reason (under ``CI=true`` that skip is a failure, see tests/conftest.py).

Fixtures: ``live_server`` (``.url``, ``.ctx``), ``browser`` (one Chromium per session),
``page`` (a fresh 1280x800 browser context per test) and ``login_as(page, username)``.
Demo users (``services.demo.DEMO_USERS``: agent1, lead1, backoffice1, partner_alpha, ...)
all have the password ``PASSWORD``.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from retention_flow.api.app import create_app
from retention_flow.core.config import Settings
from retention_flow.db.session import create_db_engine
from retention_flow.services.platform import demo
from retention_flow.services.platform.context import AppContext
from retention_flow.services.steps.handlers import default_service_handlers
from tests.scans.conftest import ocr_engine

__all__ = ["ocr_engine"]  # the Tesseract skip, shared with tests/scans

PASSWORD = "correct horse battery"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PROCESSES = Path(__file__).resolve().parents[2] / "processes"
VIEWPORT = {"width": 1280, "height": 800}


@dataclass
class LiveServer:
    url: str
    ctx: AppContext


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def e2e_settings(db_url: str) -> Settings:
    return Settings(
        database_url=db_url,
        password_hash_time_cost=1,
        password_hash_memory_kib=64,
        secret_key="e2e-secret-" + "x" * 32,
    )


@pytest.fixture
def live_ctx(e2e_settings: Settings) -> Iterator[AppContext]:
    """The product's context (real service handlers, system clock), seeded like the demo:
    the processes/ bundle, a user per role, partners, customers and a few cases."""
    engine = create_db_engine(e2e_settings.database_url, e2e_settings)
    ctx = AppContext(e2e_settings, engine=engine, service_handlers=default_service_handlers())
    demo.seed(ctx, processes_dir=PROCESSES, customers=40, cases_total=8, password=PASSWORD)
    yield ctx
    ctx.live.clear()
    engine.dispose()


@pytest.fixture
def live_server(live_ctx: AppContext) -> Iterator[LiveServer]:
    port = _free_port()
    config = uvicorn.Config(
        create_app(live_ctx), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="e2e-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the app did not start")
        time.sleep(0.05)
    yield LiveServer(f"http://127.0.0.1:{port}", live_ctx)
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists() and shutil.which("chromium") is None:
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    executable = str(CHROMIUM) if CHROMIUM.exists() else str(shutil.which("chromium"))
    with sync_api.sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser: Any, live_server: LiveServer) -> Iterator[Any]:
    """A fresh tab; the test fails if the page's Content-Security-Policy blocked anything
    (a blocked script or style would break a page without an error of its own)."""
    context = browser.new_context(viewport=VIEWPORT, base_url=live_server.url)
    context.set_default_timeout(10_000)
    tab = context.new_page()
    blocked: list[str] = []
    tab.on(
        "console",
        lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None,
    )
    yield tab
    context.close()
    assert blocked == [], f"the Content-Security-Policy blocked: {blocked}"


@pytest.fixture
def login_as(live_server: LiveServer) -> Callable[[Any, str], None]:
    """Log ``page`` in through the login form; afterwards the page is the user's start page."""

    def login(page: Any, username: str, password: str = PASSWORD) -> None:
        page.goto("/login")
        page.fill("#username", username)
        page.fill("#password", password)
        page.click("button[type=submit]")
        page.wait_for_load_state()
        assert "/login" not in page.url, f"login as {username} failed: {page.url}"

    return login
