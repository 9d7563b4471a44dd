"""The routing pages without a browser: the queue shows the segment and why a task is not
offered, "next task" opens the routed task whose page says why it came to this agent,
the team lead gives a skill on the Skills page and reviews the offers there, and the
case page shows the segment."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from retention_flow.api.app import create_app
from retention_flow.services.platform.context import AppContext
from tests.web.conftest import PageClient


@pytest.fixture
def page(rctx: AppContext) -> Iterator[Callable[[str], PageClient]]:
    app = create_app(rctx)
    clients: list[TestClient] = []

    def login(name: str) -> PageClient:
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        browser = PageClient(client)
        assert browser.login(name).status_code == 303
        return browser

    yield login
    for client in clients:
        client.__exit__(None, None, None)


def test_queue_next_task_and_skills_page(
    page: Callable[[str], PageClient], start: Callable[..., dict[str, Any]]
) -> None:
    french = start("fibre", language="fr")
    plain = start("vip_at_risk")
    tom, lead = page("tom"), page("lead")

    queue = tom.get("/queue").text
    assert "fibre" in queue and "vip at risk" in queue
    assert "Not for you: needs the skill language fr" in queue

    claim = tom.post(f"/tasks/{french['open_tasks'][0]['id']}/claim")
    assert claim.status_code == 303 and claim.headers["location"] == "/queue"
    assert "language fr" in tom.get("/queue").text  # the flash names the missing skill

    nxt = tom.get("/next")
    assert nxt.headers["location"] == f"/tasks/{plain['open_tasks'][0]['id']}"
    task_page = tom.get(nxt.headers["location"]).text
    assert "data-offer-reason" in task_page and "Why you:" in task_page
    assert "vip at risk" in task_page

    skills_page = lead.get("/skills")
    assert skills_page.status_code == 200
    assert "tom" in skills_page.text and "Offers by agent" in skills_page.text
    given = lead.post(
        "/skills", {"username": "tom", "kind": "language", "value": "FR", "proficiency": "2"}
    )
    assert given.status_code == 303
    shown = lead.get("/skills").text
    assert 'data-skill="language:fr"' in shown
    assert "language fr · 2" in shown
    assert "Not for you" not in tom.get("/queue").text
    assert tom.get("/skills").status_code == 403

    case_page = page("owner").get(f"/operations/cases/{french['id']}")
    assert case_page.status_code == 200
    assert "<dd data-segment>fibre</dd>" in case_page.text
