"""The auditor's settlement pages: the statements, one statement with its entries and
its hash check, the CSV export."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from retention_flow.api.app import create_app
from retention_flow.services.partners import settlement
from retention_flow.services.people import users
from retention_flow.services.platform.context import Actor, AppContext
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
    [draft] = settlement.run_settlement(seeded, FINANCE, "2026-01").model_dump()["statements"]
    listing = auditor.get("/settlements?period=2026-01").text
    assert f'data-statement-id="{draft["id"]}"' in listing
    assert "No statement matches" in auditor.get("/settlements?period=2025-12").text

    page = auditor.get(f"/settlements/{draft['id']}").text
    assert "a draft has no hash yet" in page
    assert f'href="/audit/cases/{paid.id}"' in page
    settlement.approve_statement(
        seeded, Actor("ada", frozenset({"admin"})), draft["id"]
    ).model_dump()
    assert 'data-verify="ok"' in auditor.get(f"/settlements/{draft['id']}").text

    exported = auditor.get(f"/settlements/{draft['id']}/export.csv")
    assert exported.headers["content-disposition"].startswith('attachment; filename="settlement-')
    assert paid.id in exported.text
    assert auditor.get("/settlements/nope").status_code == 404
    assert auditor.get("/settlements?period=January").status_code == 422


def test_approve_on_the_page_needs_a_second_person(seeded: AppContext) -> None:
    """Four eyes on the page: whoever ran the statement is told to let someone else
    approve; a second back-office user approves it."""
    partner_case(seeded, 1)
    [draft] = settlement.run_settlement(seeded, FINANCE, "2026-01").model_dump()["statements"]
    users.add_user(seeded, "fin", PASSWORD, ["back_office"], None)
    users.add_user(seeded, "fin2", PASSWORD, ["back_office"], None)
    with TestClient(create_app(seeded), raise_server_exceptions=False) as client:
        page = PageClient(client)
        assert page.login("fin").status_code == 303
        assert 'id="approve"' in page.get(f"/settlements/{draft['id']}").text
        refused = page.post(f"/settlements/{draft['id']}/approve")
        assert refused.status_code == 303
        shown = page.get(refused.headers["location"]).text
        assert "Not approved: four eyes: fin ran statement" in shown
        assert settlement.get_statement(seeded, draft["id"]).model_dump()["status"] == "draft"
    with TestClient(create_app(seeded), raise_server_exceptions=False) as client:
        page = PageClient(client)
        assert page.login("fin2").status_code == 303
        done = page.post(f"/settlements/{draft['id']}/approve")
        assert "Approved and frozen" in page.get(done.headers["location"]).text
        after = page.get(f"/settlements/{draft['id']}").text
        assert 'data-verify="ok"' in after and 'id="approve"' not in after
