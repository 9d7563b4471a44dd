"""Test fixtures: a real, migrated database per test.

SQLite (default): a fresh file per test, copied from one migrated template.
PostgreSQL (``RETENTION_FLOW_TEST_DATABASE_URL=postgresql+psycopg://...``): a fresh
database per test, copied from one migrated template database, dropped afterwards.
Under ``CI=true`` a test that would skip for a missing tool fails instead.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TypedDict

import pytest
from pluggy import Result
from sqlalchemy import Engine, create_engine, make_url, text

from retention_flow.core.clock import FrozenClock
from retention_flow.core.config import Settings
from retention_flow.db.migrate import upgrade
from retention_flow.db.session import create_db_engine
from retention_flow.services.platform.context import AppContext

TEST_DB_URL = os.environ.get("RETENTION_FLOW_TEST_DATABASE_URL")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
DATA = Path(__file__).parent / "data"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Result[pytest.TestReport], None]:
    """Under CI=true a skip is a failure: PostgreSQL, Tesseract and Chromium must be there."""
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, where it must run: {reason}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The PostgreSQL suite leaves out tests that use no test database (they would run
    the same thing twice); they run in the SQLite suite. The SQLite suite leaves out tests
    of PostgreSQL's own behaviour (row locks); they run in the PostgreSQL suite.
    Deselected, not skipped."""
    left_out = "no_test_database" if TEST_DB_URL else "postgresql_only"
    kept = [i for i in items if i.get_closest_marker(left_out) is None]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in kept])
        items[:] = kept


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = create_db_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


def _with_database(url: str, name: str) -> str:
    """``url`` pointing at database ``name`` instead (query string kept)."""
    return make_url(url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str | None]:
    """One migrated PostgreSQL database per test session, the template that each test's
    database is copied from (``CREATE DATABASE ... TEMPLATE``: a tenth of a second against
    one to three seconds for running every migration per test)."""
    if not TEST_DB_URL:
        yield None
        return
    name = f"rf_tmpl_{uuid.uuid4().hex[:10]}"
    admin = create_engine(TEST_DB_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = create_db_engine(_with_database(TEST_DB_URL, name))
    upgrade(engine)
    engine.dispose()  # a template may have no open connection while it is copied
    try:
        yield name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def db_url(tmp_path: Path, sqlite_template: Path, postgres_template: str | None) -> Iterator[str]:
    if TEST_DB_URL and postgres_template:
        name = f"rf_t_{uuid.uuid4().hex[:12]}"
        admin = create_engine(TEST_DB_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{postgres_template}"'))
        try:
            yield _with_database(TEST_DB_URL, name)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    else:
        path = tmp_path / "test.db"
        shutil.copyfile(sqlite_template, path)
        yield f"sqlite:///{path}"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=db_url, script_budget_seconds=0.5, **audit_files(tmp_path))


@pytest.fixture(autouse=True)
def _audit_files_for_subprocesses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """CLI, worker and server subprocesses that a test starts seal and verify with the
    test's own audit keys (the environment they inherit names the same files)."""
    files = audit_files(tmp_path)
    monkeypatch.setenv("RETENTION_FLOW_AUDIT_KEY_FILE", files["audit_key_file"])
    monkeypatch.setenv("RETENTION_FLOW_AUDIT_CHECKPOINT_FILE", files["audit_checkpoint_file"])


@pytest.fixture(autouse=True)
def _no_random_offers(monkeypatch: pytest.MonkeyPatch) -> None:
    """ "Next task" picks nothing at random in tests (the product default explores 5 % of
    offers): every Settings a test makes, and its subprocesses, read this. The tests of
    exploration set it themselves, with a seeded generator."""
    monkeypatch.setenv("RETENTION_FLOW_ROUTING_EXPLORATION", "0")


class AuditFiles(TypedDict):
    """The audit settings that name files (so ``Settings(**audit_files(...))`` type-checks)."""

    audit_key_file: str
    audit_checkpoint_file: str


def audit_files(folder: Path) -> AuditFiles:
    """Each test's own audit keys and checkpoint file (not ./var/ of the checkout)."""
    return {
        "audit_key_file": str(folder / "audit-keys.json"),
        "audit_checkpoint_file": str(folder / "audit-checkpoints.jsonl"),
    }


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    eng = create_db_engine(settings.database_url, settings)
    yield eng
    eng.dispose()


@pytest.fixture
def ctx(settings: Settings, clock: FrozenClock, engine: Engine) -> Iterator[AppContext]:
    """A context whose service tasks are test doubles (for the diagrams in tests/data)."""
    from tests.factories import SERVICE_HANDLERS

    context = AppContext(settings, clock=clock, engine=engine, service_handlers=SERVICE_HANDLERS)
    yield context
    context.live.clear()


@pytest.fixture
def product_ctx(settings: Settings, clock: FrozenClock, engine: Engine) -> Iterator[AppContext]:
    """A context with the product's real service handlers (for processes/)."""
    from retention_flow.services.steps.handlers import default_service_handlers

    context = AppContext(
        settings, clock=clock, engine=engine, service_handlers=default_service_handlers()
    )
    yield context
    context.live.clear()
