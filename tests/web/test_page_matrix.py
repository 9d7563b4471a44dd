"""The page authorisation matrix: every page route by every persona.

Page routes (tagged ``web``) are read from the app, so a page added without a rule here
fails the suite (the API's own matrix leaves them out). Outcomes:

- ``A`` allowed: the page (200) or a redirect that is not to the login page;
- ``L`` login: a redirect to the login page (no session);
- ``D`` denied: the 403 page;
- ``H`` hidden: the 404 page (another partner organisation's object).
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.routing import iter_route_contexts

from retention_flow.api.app import create_app
from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.platform.context import AppContext
from retention_flow.services.scans import intake as scans
from retention_flow.services.tasks import work_items as tasks
from tests.api.test_authorisation_matrix import PERSONAS
from tests.factories import actor, deploy
from tests.web.conftest import PageClient

USERS = " ".join(p for p in PERSONAS if p != "anonymous")


def _rule(allowed: str = "", hidden: str = "", anonymous: str = "L") -> dict[str, str]:
    """Personas allowed / hidden; other users are denied, the anonymous caller logs in."""
    out = dict.fromkeys(PERSONAS, "D")
    out.update(dict.fromkeys(allowed.split(), "A"))
    out.update(dict.fromkeys(hidden.split(), "H"))
    out["anonymous"] = anonymous
    return out


EVERYONE = dict.fromkeys(PERSONAS, "A")
QUEUE = "agent back_office"
OWNER = _rule("process_owner")
AUDITOR = _rule("auditor")
STEWARDS = _rule("team_lead process_owner auditor")
OPERATORS = _rule("process_owner admin")
#: allowed, but the matrix's incident / batch id does not exist: the 404 page
OPERATORS_MISSING = _rule(hidden="process_owner admin")
CASE_OPERATORS = _rule("process_owner admin team_lead")

EXPECTED: dict[tuple[str, str], dict[str, str]] = {
    ("GET", "/"): _rule(USERS),
    ("GET", "/account"): _rule(USERS),
    ("GET", "/login"): EVERYONE,
    # the customer's self-service page needs no login: a link that never existed is 404
    ("GET", "/s/{token}"): dict.fromkeys(PERSONAS, "H"),
    ("POST", "/s/{token}"): dict.fromkeys(PERSONAS, "H"),
    ("POST", "/login"): EVERYONE,
    ("POST", "/logout"): EVERYONE,
    ("GET", "/queue"): _rule(QUEUE),
    ("GET", "/queue/rows"): _rule(QUEUE),
    ("GET", "/next"): _rule(QUEUE),
    # the task is in the telemarketing lane: the back office does not see it
    # an admin opens what they can assign (the services let admins read every task)
    ("GET", "/tasks/{task_id}"): _rule("agent team_lead admin", hidden="back_office"),
    # a task one cannot see is the 404 page for every action, like opening it
    ("POST", "/tasks/{task_id}/claim"): _rule("agent", hidden="back_office"),
    # claimed by 'agent' first: the claimant or a team lead gives it back
    ("POST", "/tasks/{task_id}/release"): _rule("agent team_lead admin", hidden="back_office"),
    ("POST", "/tasks/{task_id}/complete"): _rule("agent", hidden="back_office"),
    ("GET", "/team"): _rule("team_lead admin"),
    ("POST", "/team/tasks/{task_id}/assign"): _rule("team_lead admin"),
    ("GET", "/skills"): _rule("team_lead admin"),
    ("POST", "/skills"): _rule("team_lead admin"),
    ("GET", "/partner"): _rule("partner partner2"),
    # a telemarketing task (of a case allocated to acme) is no partner's lead
    ("GET", "/partner/leads/{task_id}"): _rule(hidden="partner partner2"),
    ("POST", "/partner/leads/{task_id}/complete"): _rule(hidden="partner partner2"),
    ("GET", "/scans"): _rule("back_office"),
    ("POST", "/scans"): _rule("back_office"),
    ("GET", "/scans/{scan_id}"): _rule("back_office auditor"),
    # allowed, but the junk scan has no page to crop: 404
    ("GET", "/scans/{scan_id}/pages/{page_no}/fields/{field}.png"): _rule(
        hidden="back_office auditor"
    ),
    # allowed, but the junk scan stored no page image: 404
    ("GET", "/scans/{scan_id}/pages/{page_no}.png"): _rule(hidden="back_office auditor"),
    ("GET", "/processes"): OWNER,
    ("GET", "/processes/{process_id}/compare"): OWNER,
    ("GET", "/processes/{process_id}/{version}"): OWNER,
    ("GET", "/processes/{process_id}/{version}/dmn/{name}"): OWNER,
    ("GET", "/processes/{process_id}/{version}/files/{name}"): OWNER,
    ("POST", "/processes/{process_id}/{version}/validate"): OWNER,
    ("POST", "/processes/{process_id}/{version}/deploy"): OWNER,
    ("POST", "/processes/{process_id}/{version}/check-expression"): OWNER,
    ("GET", "/processes/{process_id}/{version}/choices"): OWNER,
    ("POST", "/processes/{process_id}/{version}/dmn/{name}/try"): OWNER,
    ("GET", "/favicon.ico"): EVERYONE,
    # an empty form: back to the compare page with the problem (303)
    ("POST", "/processes/{process_id}/migrations"): _rule("process_owner admin"),
    # allowed, but there is no such migration: 404 (tests/e2e/test_migration.py)
    ("GET", "/processes/{process_id}/migrations/{migration_id}"): _rule(
        hidden="process_owner admin"
    ),
    ("GET", "/operations"): OPERATORS,
    ("GET", "/operations/incidents/{incident_id}"): OPERATORS_MISSING,
    ("POST", "/operations/incidents/{incident_id}/retry"): OPERATORS_MISSING,
    ("GET", "/operations/retry"): OPERATORS,
    ("POST", "/operations/retry"): OPERATORS,  # no reason, not confirmed: the form again (422)
    ("GET", "/operations/batches/{batch_id}"): OPERATORS_MISSING,
    ("GET", "/operations/cases/{case_id}"): CASE_OPERATORS,
    ("GET", "/operations/cases/{case_id}/diagram"): CASE_OPERATORS,
    # team leads may cancel a case, not suspend it, resume it or correct its data
    ("POST", "/operations/cases/{case_id}/cancel"): CASE_OPERATORS,
    ("POST", "/operations/cases/{case_id}/{action}"): OPERATORS,
    ("GET", "/operations/signals"): OPERATORS,
    ("POST", "/operations/signals"): OPERATORS,
    ("GET", "/audit"): AUDITOR,
    ("GET", "/audit/verify"): AUDITOR,
    ("GET", "/audit/cases/{case_id}"): AUDITOR,
    ("GET", "/audit/cases/{case_id}/diagram"): AUDITOR,
    ("GET", "/audit/cases/{case_id}/history.json"): AUDITOR,
    ("GET", "/audit/cases/{case_id}/history.csv"): AUDITOR,
    ("GET", "/settlements"): _rule("auditor admin back_office"),
    # allowed, but there is no such statement: 404 (tests/partners/test_settlement_pages.py)
    ("GET", "/settlements/{statement_id}"): _rule(hidden="auditor admin back_office"),
    ("GET", "/settlements/{statement_id}/export.csv"): _rule(hidden="auditor admin back_office"),
    # the matrix's statement id does not exist: the approvers reach it and see it missing
    ("POST", "/settlements/{statement_id}/approve"): _rule(hidden="admin back_office"),
    ("GET", "/kpis"): STEWARDS,
    ("GET", "/kpis/export.csv"): STEWARDS,
    ("GET", "/kpis/definitions"): _rule("agent team_lead back_office process_owner auditor admin"),
    ("GET", "/kpis/scorecard"): STEWARDS,
    # the matrix's bundles have no incentive plan: the page says so, and so does a save
    ("GET", "/incentives/plan"): OWNER,
    ("POST", "/incentives/plan"): OWNER,
    # QA reviews (the qa role is no persona here: tests/incentives cover it)
    ("GET", "/qa"): _rule("team_lead auditor admin process_owner"),
    ("POST", "/qa/samples"): _rule("team_lead admin process_owner"),
    ("GET", "/qa/reviews/{review_id}"): _rule(hidden="team_lead auditor admin process_owner"),
    ("POST", "/qa/reviews/{review_id}"): _rule(),
    ("GET", "/payouts"): _rule("team_lead back_office admin"),
    ("POST", "/payouts/run"): _rule("team_lead back_office admin"),
    ("GET", "/payouts/export.csv"): _rule("team_lead back_office admin"),
    ("GET", "/payouts/{statement_id}"): _rule(hidden="team_lead back_office admin"),
    ("POST", "/payouts/{statement_id}/approve"): _rule(hidden="team_lead back_office admin"),
    # an empty correction is refused with a notice on the page it came from
    ("POST", "/payouts/{statement_id}/corrections"): _rule("team_lead back_office admin"),
    ("GET", "/me"): _rule("agent"),
    ("GET", "/heatmap"): STEWARDS,
    ("GET", "/heatmap/{process_id}/{version}"): STEWARDS,
    ("GET", "/heatmap/{process_id}/{version}/diagram"): STEWARDS,
    ("GET", "/whatif"): _rule("team_lead process_owner"),
    ("GET", "/whatif.csv"): _rule("team_lead process_owner"),
}


def page_routes() -> list[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for route in iter_route_contexts(create_app().routes):
        if "web" in (getattr(route, "tags", None) or ()):
            assert route.path is not None, route
            found.update((m, route.path) for m in route.methods or () if m != "HEAD")
    return sorted(found)


ROUTES = page_routes()


def test_every_page_has_a_rule_and_every_rule_a_page() -> None:
    assert sorted(set(ROUTES) - set(EXPECTED)) == []
    assert sorted(set(EXPECTED) - set(ROUTES)) == []


def _request(page: PageClient, method: str, path: str, persona: str, ids: dict[str, str]) -> Any:
    url = path.format(**ids)
    if method == "GET":
        return page.get(url)
    data: dict[str, Any] = {}
    if path == "/scans":
        # not an image: answered as an unreadable scan, no OCR engine needed
        return page.post(url, files=[("files", ("junk.bin", b"junk", "application/octet-stream"))])
    if path == "/login":
        data = {"username": "agent" if persona == "anonymous" else persona}
        data["password"] = "correct horse battery"
    elif path.endswith("/assign"):
        data = {"assignee": "agent", "reason": "matrix"}
    elif path.startswith("/operations/cases/"):
        data = {"reason": "matrix", "confirm": "yes"}
    elif path == "/operations/signals":
        data = {"name": "matrix_signal"}
    return page.post(url, data)


def _outcome(response: Any) -> str:
    status = response.status_code
    if status in (302, 303, 307):
        return "L" if response.headers["location"].startswith("/login?next=") else "A"
    if status == 403:
        return "D"
    if status == 404:
        return "H"
    return "A"


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
def test_page_authorisation(
    ctx: AppContext, pages: dict[str, PageClient], method: str, path: str
) -> None:
    rule = EXPECTED[(method, path)]
    deploy(ctx, "three_steps")
    deploy(ctx, "all_elements")  # a bundle with a decision table, for the editor pages
    model = {"process_id": "all_elements", "version": "1", "name": "offer_decision.dmn"}
    starter = actor("starter", "agent", "telemarketing")
    wrong = []
    scan_id = scans.ingest(ctx, actor("scanner", "back_office"), "junk.bin", b"junk").model_dump()[
        "id"
    ]
    for persona in PERSONAS:
        case = cases.start_case(ctx, starter, "three_steps", {"allocated_partner": "acme"})
        ids = {"case_id": case.id, "task_id": case.open_tasks[0].id, "scan_id": scan_id}
        ids |= model | {"statement_id": "no-such-statement", "migration_id": "no-such"}
        ids |= {"page_no": "1", "field": "offer", "action": "suspend"}
        ids |= {"incident_id": "no-such-incident", "batch_id": "no-such-batch"}
        ids |= {"review_id": "no-such-review", "token": "no-such-token"}
        if path.endswith("/release"):
            tasks.claim(ctx, actor("agent", "agent", "telemarketing"), ids["task_id"])
        response = _request(pages[persona], method, path, persona, ids)
        assert response.status_code < 500, f"{persona}: {response.text[:300]}"
        if response.status_code in (403, 404):
            assert response.headers["content-type"].startswith("text/html"), persona
        outcome = _outcome(response)
        if outcome != rule[persona]:
            wrong.append(f"{persona}: expected {rule[persona]}, got {response.status_code}")
        if path in ("/login", "/logout") and method == "POST" and persona != "anonymous":
            pages[persona].login(persona)  # the next persona-round needs the session back
    assert not wrong, "\n".join(wrong)
