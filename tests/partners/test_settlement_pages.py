"""The auditor's settlement pages: the statements, one statement with its entries and
its hash check, the CSV export."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from retention_flow.api.app import create_app
from retention_flow.services import settlement, users
from retention_flow.services.context import Actor, AppContext
from tests.api.conftest import PASSWORD, settings
from tests.partners.conftest import partner_case
from tests.web.conftest import PageClient

__all__ = ["settings"]  # cheap password hashing for the logins

FINANCE = Actor("fin", frozenset({"back_office"}))


@pytest.fixture
def auditor(seeded: AppContext) -> Iterator[PageClient]:
    users.add_user(seeded, "audrey", PASSWORD, ["auditor"], None)
    with TestClient(create_app(seeded), raise_server_exceptions=False) as client:
        page = PageClient(client)
        assert page.login("audrey").status_code == 303
        yield page


def test_statements_entries_hash_and_export(seeded: AppContext, auditor: PageClient) -> None:
    paid = partner_case(seeded, 1)
    [draft] = settlement.run_settlement(seeded, FINANCE, "2026-01")["statements"]
    listing = auditor.get("/settlements?period=2026-01").text
    assert f'data-statement-id="{draft["id"]}"' in listing
    assert "No statement matches" in auditor.get("/settlements?period=2025-12").text

    page = auditor.get(f"/settlements/{draft['id']}").text
    assert "a draft has no hash yet" in page
    assert f'href="/audit/cases/{paid["id"]}"' in page
    settlement.approve_statement(seeded, Actor("ada", frozenset({"admin"})), draft["id"])
    assert 'data-verify="ok"' in auditor.get(f"/settlements/{draft['id']}").text

    exported = auditor.get(f"/settlements/{draft['id']}/export.csv")
    assert exported.headers["content-disposition"].startswith('attachment; filename="settlement-')
    assert paid["id"] in exported.text
    assert auditor.get("/settlements/nope").status_code == 404
    assert auditor.get("/settlements?period=January").status_code == 422
