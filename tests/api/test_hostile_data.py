"""Bad data never breaks the service (issue 11, items 1 and 2).

Doors: NaN, infinities, lone surrogates, huge integers and duplicate keys are refused
with 422 naming the path, in every body; malformed JSON names the line and column; case
data beyond the limits is refused naming the limit. Storage: rows written *behind the
API's back* (raw SQL: NaN, infinities, huge numbers, wrong types, nulls where a value is
expected) make no list, search, KPI, scorecard or page answer 500, for any user.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import text

from retention_flow.api.app import create_app
from retention_flow.services.cases import incidents
from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.platform.context import AppContext
from tests.api.conftest import assert_problem
from tests.api.test_authorisation_matrix import _stored_scan
from tests.factories import actor, deploy
from tests.web.conftest import PageClient

Headers = dict[str, dict[str, str]]
JSON = {"Content-Type": "application/json"}


def _post(client: TestClient, url: str, body: str, headers: dict[str, str]) -> Any:
    return client.post(
        url, content=body.encode("utf-8", "surrogatepass"), headers={**headers, **JSON}
    )


# --------------------------------------------------------------------------- doors


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ('{"x": NaN}', "data.x"),
        ('{"x": Infinity}', "data.x"),
        ('{"x": [1, -Infinity]}', "data.x.1"),
        ('{"x": 1e400}', "data.x"),
        ('{"x": "\\ud800"}', "data.x"),
        ('{"x": {"\\udfff": 1}}', "data.x"),
        ('{"x": 9007199254740993}', "data.x"),
        ('{"x": 1' + "0" * 5000 + "}", "data.x"),
        ('{"x": 1, "x": 2}', "data.x"),
    ],
)
def test_start_refuses_what_is_not_interoperable_json(
    ctx: AppContext, client: TestClient, headers: Headers, value: str, field: str
) -> None:
    deploy(ctx, "three_steps")
    body = '{"process_id": "three_steps", "data": ' + value + "}"
    response = _post(client, "/api/cases", body, headers["agent"])
    problem = assert_problem(response, 422, "validation_failed")
    assert problem["errors"][0]["field"] == field, problem
    assert cases.list_cases(ctx)[1] == 0  # nothing stored


def test_every_body_door_is_strict(ctx: AppContext, client: TestClient, headers: Headers) -> None:
    deploy(ctx, "three_steps")
    case = cases.start_case(ctx, actor("starter"), "three_steps", {"customer_id": "C-1"})
    task_id = case.open_tasks[0].id
    doors = [
        (
            "agent",
            f"/api/tasks/{task_id}/complete",
            '{"data": {"call_result": NaN}}',
            "data.call_result",
        ),
        (
            "system",
            "/api/messages/m",
            '{"correlation": {"k": "v"}, "data": {"a": Infinity}}',
            "data.a",
        ),
        ("system", "/api/messages/m", '{"correlation": {"k": "\\udc00"}}', "correlation.k"),
        ("admin", "/api/partners", '{"id": "p1", "name": "P", "quality": NaN}', "quality"),
        (
            "team_lead",
            f"/api/tasks/{task_id}/assign",
            '{"assignee": "a", "reason": "r", "reason": "s"}',
            "reason",
        ),
        (
            "back_office",
            "/api/partners/allocate",
            '{"leads": [{"lead_id": "l", "contract_age_months": 1e999}]}',
            "leads.0.contract_age_months",
        ),
        ("process_owner", "/api/signals/s", '{"data": {"x": -Infinity}}', "data.x"),
        (
            "process_owner",
            f"/api/cases/{case.id}/suspend",
            '{"reason": "\\ud800"}',
            "reason",
        ),
    ]
    for persona, url, body, field in doors:
        problem = assert_problem(
            _post(client, url, body, headers[persona]), 422, "validation_failed"
        )
        assert problem["errors"][0]["field"] == field, (url, problem)


def test_malformed_json_names_line_and_column(client: TestClient, headers: Headers) -> None:
    body = '{\n  "process_id": "three_steps",\n  "data": {"a": 1,}\n}'
    problem = assert_problem(
        _post(client, "/api/cases", body, headers["agent"]), 422, "validation_failed"
    )
    error = problem["errors"][0]
    assert (error["field"], error["line"], error["column"]) == ("(body)", 3, 19), problem
    assert "line 3 column 19" in problem["detail"]
    not_utf8 = client.post(
        "/api/cases", content=b'{"process_id": "\xff"}', headers={**headers["agent"], **JSON}
    )
    assert "UTF-8" in assert_problem(not_utf8, 422, "validation_failed")["detail"]
    documented = client.get("/openapi.json").json()["paths"]["/api/cases"]["post"]["responses"][
        "422"
    ]
    assert "line and column" in documented["description"]


def test_partner_fields_refuse_null(ctx: AppContext, client: TestClient, headers: Headers) -> None:
    base = {
        "id": "p1",
        "name": "P",
        "capacity_per_period": 5,
        "cost_per_lead_cents": 1,
        "commission_cents": 2,
    }
    assert client.post("/api/partners", json=base, headers=headers["admin"]).status_code == 201
    for field in (
        "name",
        "capacity_per_period",
        "products",
        "regions",
        "cost_per_lead_cents",
        "commission_cents",
        "quality",
        "min_share",
        "active",
    ):
        response = client.post(
            "/api/partners", json={"id": "p1", field: None}, headers=headers["admin"]
        )
        problem = assert_problem(response, 422, "validation_failed")
        assert problem["errors"][0]["field"] == field, problem
    cleared = client.post(
        "/api/partners",
        json={"id": "p1", "min_contract_age_months": None},
        headers=headers["admin"],
    )
    assert cleared.status_code == 200, cleared.text
    listed = client.get("/api/partners", headers=headers["admin"])
    assert listed.status_code == 200 and listed.json()["data"][0]["products"] == []


def test_enum_query_parameters_are_validated(client: TestClient, headers: Headers) -> None:
    for url, persona in [
        ("/api/cases?status=evil", "agent"),
        ("/api/tasks?role=evil", "agent"),
        ("/api/tasks?queue=evil", "agent"),
        ("/api/kpis?granularity=evil", "team_lead"),
        ("/api/kpis?group_by=evil", "team_lead"),
        ("/api/kpis?format=evil", "team_lead"),
    ]:
        problem = assert_problem(
            client.get(url, headers=headers[persona]), 422, "validation_failed"
        )
        assert problem["errors"][0]["field"] in url, problem
    assert client.get("/api/cases?status=active", headers=headers["agent"]).status_code == 200


def test_enum_page_parameters_are_validated(ctx: AppContext, client: TestClient) -> None:
    from retention_flow.services.people import users

    for name, roles in (("auditor", ["auditor"]), ("team_lead", ["team_lead"])):
        users.add_user(ctx, "p_" + name, "correct horse battery", roles)
    for persona, bad, good in (
        ("auditor", "/audit?status=evil", "/audit?status=incident"),
        ("team_lead", "/team?role=evil", "/team?role=telemarketing"),
    ):
        page = PageClient(TestClient(client.app, raise_server_exceptions=False))
        assert page.login("p_" + persona).status_code == 303
        assert page.get(bad).status_code == 422, bad
        assert page.get(good).status_code == 200, good


@pytest.mark.parametrize("bad", ["RC-1\u0000", "RC-\u202e1", "RC\u20661", "RC\n1", "RC\u00851"])
def test_names_refuse_control_and_bidi_characters(
    ctx: AppContext, client: TestClient, headers: Headers, bad: str
) -> None:
    deploy(ctx, "three_steps")
    body = {"process_id": "three_steps", "business_key": bad}
    problem = assert_problem(
        client.post("/api/cases", json=body, headers=headers["agent"]), 422, "validation_failed"
    )
    assert problem["errors"][0]["field"] == "business_key"
    from retention_flow.core.errors import ValidationFailed
    from retention_flow.services.people import users

    with pytest.raises(ValidationFailed) as refused:
        users.add_user(ctx, "eve" + bad, "correct horse battery", ["agent"])
    assert refused.value.errors[0]["field"] == "username"


# --------------------------------------------------------------------------- limits


def test_case_data_limits_are_refused_at_the_door(
    ctx: AppContext, client: TestClient, headers: Headers
) -> None:
    deploy(ctx, "three_steps")
    limits = ctx.data_limits
    wide = {f"k{i}": i for i in range(100_000)}
    deep: dict[str, Any] = {}
    inner = deep
    for _ in range(limits.max_depth + 1):
        inner["d"] = {}
        inner = inner["d"]
    cases_ = [
        ({"wide": wide}, 413, "case_data_too_large", "CASE_DATA_MAX_KEYS"),
        ({"s": "x" * (limits.max_string + 1)}, 422, "validation_failed", "CASE_DATA_MAX_STRING"),
        (deep, 422, "validation_failed", "CASE_DATA_MAX_DEPTH"),
        (
            {f"k{i}": "y" * 1000 for i in range(300)},
            413,
            "case_data_too_large",
            "CASE_DATA_MAX_BYTES",
        ),
    ]
    for data, status, code, limit in cases_:
        body = {"process_id": "three_steps", "data": data}
        problem = assert_problem(
            client.post("/api/cases", json=body, headers=headers["agent"]), status, code
        )
        assert limit in problem["errors"][0]["limit"], problem
    case = cases.start_case(ctx, actor("starter"), "three_steps", {"customer_id": "C-1"})
    task_id = case.open_tasks[0].id
    response = client.post(
        f"/api/tasks/{task_id}/complete", json={"data": {"wide": wide}}, headers=headers["agent"]
    )
    assert_problem(response, 413, "case_data_too_large")
    message = client.post(
        "/api/messages/m",
        json={"correlation": {"k": "v"}, "data": {"wide": wide}},
        headers=headers["system"],
    )
    assert_problem(message, 413, "case_data_too_large")


def test_a_step_cannot_grow_case_data_past_the_limit(
    ctx: AppContext, client: TestClient, headers: Headers
) -> None:
    """Each request stays under the limit, but the case data they merge into would not."""
    deploy(ctx, "three_steps")
    ctx.data_limits = replace(ctx.data_limits, max_bytes=5000)
    case = cases.start_case(ctx, actor("starter"), "three_steps", {"filler": "x" * 4600})
    task_id = case.open_tasks[0].id
    response = client.post(
        f"/api/tasks/{task_id}/complete",
        json={"data": {"call_result": "reached", "notes": "n" * 500}},
        headers=headers["agent"],
    )
    problem = assert_problem(response, 413, "case_data_too_large")
    assert problem["errors"][0]["limit"] == "RETENTION_FLOW_CASE_DATA_MAX_BYTES=5000"
    after = cases.get_case(ctx, case.id)  # nothing applied
    assert after.open_tasks[0].id == task_id and "notes" not in after.data


# --------------------------------------------------------------------------- storage


def _dialect_values(ctx: AppContext) -> dict[str, str]:
    huge = '"huge": 123456789012345678901234567890'
    if ctx.db.dialect.name == "postgresql":
        # JSONB refuses NaN; it holds numbers no double holds, and huge integers
        obj = '{"customer_id": 1e400, "amount": -1e400, ' + huge + ', "nested": {"x": [1e999]}}'
        return {"obj": obj, "float": "'NaN'::float8", "inf": "'Infinity'::float8"}
    obj = (
        '{"customer_id": NaN, "amount": Infinity, "neg": -Infinity, "big": 1e400, '
        + huge
        + ', "nested": {"x": [NaN]}}'
    )
    return {"obj": obj, "float": "9e999", "inf": "-9e999"}


WRONG_TYPES = (
    '{{"customer_id": {{"a": 1}}, "offer": 5, "selected_offer": [1], "allocated_partner": 7}}'
)


def _corrupt(ctx: AppContext, ids: dict[str, str]) -> None:
    """Rows written behind the API's back: what no door lets through."""
    bad = _dialect_values(ctx)
    jsonb = "::jsonb" if ctx.db.dialect.name == "postgresql" else ""
    cast = "CAST(:{} AS jsonb)" if jsonb else ":{}"
    fields = json.dumps([{"name": "offer", "value": 1e300, "confidence": "high"}, 5, None])
    statements = [
        ('UPDATE "case" SET data = {obj} WHERE id = :a', {"obj": bad["obj"], "a": ids["case_a"]}),
        ("UPDATE \"case\" SET data = '[]'{j} WHERE id = :b", {"b": ids["case_b"]}),
        (
            "UPDATE \"case\" SET data = 'null'{j}, outcome = NULL, status = 'completed', "
            "ended_at = NULL WHERE id = :c",
            {"c": ids["case_c"]},
        ),
        ('UPDATE "case" SET data = \'' + WRONG_TYPES + "'{j} WHERE id = :d", {"d": ids["case_d"]}),
        (
            "UPDATE audit_event SET data_after = {obj}, detail = '\"text\"'{j} WHERE case_id = :a",
            {"obj": bad["obj"], "a": ids["case_a"]},
        ),
        (
            "UPDATE audit_event SET data_before = '[1, 2]'{j}, detail = 'null'{j} "
            "WHERE case_id = :b",
            {"b": ids["case_b"]},
        ),
        (
            "UPDATE work_item SET claimed_by = NULL, state = 'claimed', role = 'nobody', "
            "priority = -2147483647 WHERE case_id = :b",
            {"b": ids["case_b"]},
        ),
        (
            "UPDATE partner_org SET products = 'null'{j}, regions = '{{\"x\": 1}}'{j}, "
            f"quality = {bad['float']}, min_share = {bad['inf']}, capacity_per_period = -5 "
            "WHERE id = 'acme'",
            {},
        ),
        (
            "UPDATE partner_org SET products = '[1, null, {{}}]'{j}, "
            "min_contract_age_months = 50, max_contract_age_months = 2 WHERE id = 'globex'",
            {},
        ),
        ("UPDATE app_user SET roles = 'null'{j} WHERE username = 'weird'", {}),
        (
            "UPDATE scan_page SET fields = {fields}, reasons = 'null'{j}, registration = '7'{j}",
            {"fields": fields},
        ),
        (
            "UPDATE customer SET churn_risk = 'extreme', contract_age_months = -7 WHERE id = 'C-1'",
            {},
        ),
    ]
    with ctx.db.begin() as conn:
        for sql, params in statements:
            sql = sql.format(j=jsonb, obj=cast.format("obj"), fields=cast.format("fields"))
            conn.execute(text(sql), params)


def _seed(ctx: AppContext, add_user: Callable[..., dict[str, str]]) -> dict[str, str]:
    from datetime import date

    from retention_flow.db.tables import CUSTOMER
    from retention_flow.services.partners import organisations as partners
    from retention_flow.services.people import users

    deploy(ctx, "three_steps")
    admin = actor("root", "admin")
    for pid in ("acme", "globex"):
        partners.save_partner(
            ctx,
            admin,
            pid,
            {
                "name": pid,
                "capacity_per_period": 9,
                "cost_per_lead_cents": 1,
                "commission_cents": 2,
            },
        )
    users.add_user(ctx, "weird", "correct horse battery", ["agent"])
    with ctx.db.begin() as conn:
        conn.execute(
            CUSTOMER.insert().values(
                id="C-1",
                name="N",
                product="mobile",
                region="north",
                tenure_months=3,
                contract_age_months=5,
                contract_end=date(2030, 1, 1),
                monthly_revenue_cents=100,
                churn_risk="high",
                created_at=ctx.now(),
            )
        )
    starter = actor("starter", "agent", "telemarketing")
    ids = {}
    for name in ("a", "b", "c", "d"):
        case = cases.start_case(
            ctx, starter, "three_steps", {"customer_id": "C-1", "allocated_partner": "acme"}
        )
        ids[f"case_{name}"] = case.id
        ids[f"task_{name}"] = case.open_tasks[0].id
    ids["scan_id"] = _stored_scan(ctx)  # one stored page (its fields are corrupted below)
    return ids


def _get_routes(tag_web: bool) -> list[str]:
    found: set[str] = set()
    for route in iter_route_contexts(create_app().routes):
        if "GET" not in (getattr(route, "methods", None) or ()):
            continue
        if ("web" in (getattr(route, "tags", None) or ())) == tag_web:
            assert route.path is not None, route
            found.add(route.path)
    return sorted(found)


EXTRA_API = [
    "/api/cases?customer=C-1",
    "/api/cases?status=completed",
    "/api/kpis?group_by=channel,process,version,offer,partner,agent,team,period",
    "/api/kpis?group_by=offer,partner&format=csv",
    "/api/kpis?group_by=team&granularity=month",
    "/api/tasks?queue=mine",
]
EXTRA_PAGES = [
    "/audit?customer=C-1",
    "/audit?status=completed",
    "/kpis?by=offer",
    "/kpis?by=partner",
    "/kpis?by=team",
    "/kpis/export.csv?by=agent",
]


class _Ids(dict[str, str]):
    """Path parameters by name; one a route adds later (an id of some new object) is "x"."""

    def __missing__(self, key: str) -> str:
        return "x"


def test_bad_stored_rows_break_no_list_search_kpi_or_page(
    ctx: AppContext,
    client: TestClient,
    headers: Headers,
    add_user: Callable[..., dict[str, str]],
) -> None:
    ids = _seed(ctx, add_user)
    pages = {}
    for persona in headers:
        if persona != "anonymous":
            pages[persona] = PageClient(TestClient(client.app, raise_server_exceptions=False))
            assert pages[persona].login(persona).status_code == 303
    _corrupt(ctx, ids)
    ctx.live.clear()
    ctx.actors.forget("weird")
    failures = []
    variants = [
        _Ids(
            case_id=ids[f"case_{n}"],
            task_id=ids[f"task_{n}"],
            scan_id=ids["scan_id"],
            page_no="1",
            field="offer",
            partner_id=p,
            process_id="three_steps",
            version="1",
            name="three_steps.bpmn",
            message_name="m",
        )
        for n, p in (("a", "acme"), ("b", "globex"), ("c", "acme"), ("d", "globex"))
    ]
    api_urls = (
        sorted({path.format_map(v) for path in _get_routes(False) for v in variants}) + EXTRA_API
    )
    page_urls = (
        sorted({path.format_map(v) for path in _get_routes(True) for v in variants}) + EXTRA_PAGES
    )
    for persona, header in headers.items():
        for url in api_urls:
            response = client.get(url, headers=header)
            if response.status_code >= 500:
                failures.append(
                    f"API {persona} {url}: {response.status_code} {response.text[:200]}"
                )
        if persona in pages:
            for url in page_urls:
                response = pages[persona].get(url)
                if response.status_code >= 500:
                    failures.append(f"page {persona} {url}: {response.status_code}")
    assert len(api_urls) > 30 and len(page_urls) > 20
    assert not failures, "\n".join(failures)
    for url, persona in [
        ("/api/partners", "admin"),
        ("/api/kpis?group_by=offer,partner", "team_lead"),
        ("/api/kpis/scorecard", "team_lead"),
        ("/api/cases?customer=C-1", "auditor"),
        (f"/api/cases/{ids['case_a']}/history", "auditor"),
    ]:
        assert client.get(url, headers=headers[persona]).status_code == 200, url
    # and the answers carry no value that is not JSON (a NaN renders as null)
    listed = client.get("/api/cases?customer=C-1", headers=headers["agent"])
    assert listed.status_code == 200
    json.loads(listed.text, parse_constant=lambda c: pytest.fail(f"{c} in an answer"))


# --------------------------------------------------------------------------- scripts

ORIGINAL_SCRIPT = b"attempts = 0\nscore = 42"


@pytest.mark.parametrize(
    ("script", "field"),
    [
        (b'attempts = 0\nscore = float("nan")', "score"),
        (b'attempts = 0\nscore = {"deep": [float("inf")]}', "score.deep.0"),
        (b"attempts = 0\nscore = 2 ** 60", "score"),
        (b'attempts = 0\nscore = "\\ud800"', "score"),
        (b"attempts = 0\nscore = {1: 2}", "score"),
    ],
)
def test_a_script_leaving_bad_json_raises_an_incident_naming_the_element(
    ctx: AppContext, client: TestClient, headers: Headers, script: bytes, field: str
) -> None:
    from retention_flow.services.process_models import deployments as processes
    from tests.factories import OWNER, bundle_files

    files = bundle_files("three_steps")
    assert ORIGINAL_SCRIPT in files["three_steps.bpmn"]
    files["three_steps.bpmn"] = files["three_steps.bpmn"].replace(ORIGINAL_SCRIPT, script)
    processes.deploy(ctx, files, OWNER)
    body = {"process_id": "three_steps", "data": {"customer_id": "C-1"}}
    response = client.post("/api/cases", json=body, headers=headers["agent"])
    assert response.status_code == 201, response.text
    case = response.json()
    assert case["status"] == "incident" and "score" not in case["data"]
    [incident] = incidents.case_incidents(ctx, case["id"])
    assert incident["element_id"] == "prepare_case", incident
    assert incident["error_type"] == "JsonRefused" and field in incident["message"], incident
    listed = client.get("/api/cases?status=incident", headers=headers["agent"])
    assert listed.status_code == 200 and listed.json()["count"] == 1


def test_a_decision_answering_nan_raises_an_incident_naming_it(
    ctx: AppContext, client: TestClient, headers: Headers
) -> None:
    from retention_flow.services.process_models import deployments as processes
    from tests.factories import OWNER, bundle_files

    files = bundle_files("all_elements")
    original = b'<text>"LOYALTY_20"</text>'
    assert original in files["offer_decision.dmn"]
    files["offer_decision.dmn"] = files["offer_decision.dmn"].replace(
        original, b'<text>float("nan")</text>'
    )
    processes.deploy(ctx, files, OWNER)
    case = cases.start_case(ctx, actor("starter"), "all_elements", {"customer_id": "C-1"})
    [task] = case.open_tasks
    response = client.post(
        f"/api/tasks/{task.id}/complete",
        json={"data": {"tenure_months": 30, "churn_risk": "high"}},
        headers=headers["agent"],
    )
    assert response.status_code == 200, response.text
    assert response.json()["case"]["status"] == "incident"
    [incident] = incidents.case_incidents(ctx, case.id)
    assert incident["element_id"] == "choose_offer", incident
    assert incident["error_type"] == "JsonRefused", incident
    assert "not a JSON number" in incident["message"], incident


def test_every_api_route_parses_bodies_strictly() -> None:
    """A router added with a plain APIRouter would let NaN and duplicate keys in."""
    from fastapi.routing import APIRoute

    from retention_flow.api.app import create_app
    from retention_flow.api.strict_body import StrictJsonRoute

    loose = [
        f"{sorted(r.methods or ())} {r.path}"
        for r in create_app().routes
        if isinstance(r, APIRoute)
        and r.path.startswith("/api/")
        and not isinstance(r, StrictJsonRoute)
    ]
    assert loose == []
