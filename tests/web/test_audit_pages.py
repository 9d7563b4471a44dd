"""The auditor's pages and the KPI dashboard over HTTP: case search, the case history
with its diagram marks and chain check, the exports, and the dashboard's data."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta
from typing import Any

from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.cases.views import CaseView
from retention_flow.services.platform.context import AppContext
from retention_flow.services.tasks import work_items as tasks
from tests.factories import actor, deploy
from tests.web.conftest import PageClient

AGENT = actor("alice", "agent", "telemarketing")


def _case(ctx: AppContext, key: str = "RC-77") -> CaseView:
    deploy(ctx, "three_steps")
    case = cases.start_case(ctx, AGENT, "three_steps", {"customer_id": "C-9"}, business_key=key)
    task = case.open_tasks[0]
    tasks.claim(ctx, AGENT, task.id)
    tasks.complete(ctx, AGENT, task.id, {"call_result": "reached"})
    return case


def _page_json(html: str, element_id: str) -> Any:
    found = re.search(rf'id="{element_id}">(.*?)</script>', html, re.S)
    assert found, element_id
    return json.loads(found.group(1))


def test_case_search_filters(ctx: AppContext, pages: dict[str, PageClient], clock: Any) -> None:
    case = _case(ctx)
    other = cases.start_case(ctx, AGENT, "three_steps", {"customer_id": "C-1"}, business_key="X")
    auditor = pages["auditor"]
    assert case.id in auditor.get("/audit").text and other.id in auditor.get("/audit").text
    by_key = auditor.get("/audit?business_key=RC-77").text
    assert case.id in by_key and other.id not in by_key
    by_customer = auditor.get("/audit?customer=C-1").text
    assert other.id in by_customer and case.id not in by_customer
    today = clock.now().date()
    later = (today + timedelta(days=1)).isoformat()
    assert case.id in auditor.get(f"/audit?date_from={today}&date_to={today}").text
    assert case.id not in auditor.get(f"/audit?date_from={later}").text
    assert auditor.get("/audit?date_from=yesterday").status_code == 422


def test_case_page_shows_timeline_marks_and_chain(
    ctx: AppContext, pages: dict[str, PageClient]
) -> None:
    case = _case(ctx)
    html = pages["auditor"].get(f"/audit/cases/{case.id}").text
    marks = _page_json(html, "diagram-marks")
    assert marks["completed"]["call_customer"] == 1 and marks["current"] == ["present_offer"]
    assert 'data-type="task_completed"' in html and "call_result" in html
    assert 'data-verify="ok"' in html
    diagram = pages["auditor"].get(f"/audit/cases/{case.id}/diagram")
    assert diagram.headers["content-type"].startswith("application/xml")
    assert 'id="call_customer"' in diagram.text
    assert pages["auditor"].get("/audit/cases/nope").status_code == 404


def test_exports_download(ctx: AppContext, pages: dict[str, PageClient]) -> None:
    case = _case(ctx)
    base = f"/audit/cases/{case.id}"
    as_json = pages["auditor"].get(f"{base}/history.json")
    assert as_json.headers["content-disposition"] == (
        'attachment; filename="case-RC-77-history.json"'
    )
    document = as_json.json()
    assert document["case"]["business_key"] == "RC-77" and document["verify"]["ok"]
    as_csv = pages["auditor"].get(f"{base}/history.csv")
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [r["hash"] for r in rows] == [e["hash"] for e in document["events"]]


def test_verify_page(ctx: AppContext, pages: dict[str, PageClient]) -> None:
    _case(ctx)
    assert 'data-verify="ok"' in pages["auditor"].get("/audit/verify").text


def test_kpi_dashboard_data_and_csv(ctx: AppContext, pages: dict[str, PageClient]) -> None:
    _case(ctx)
    lead = pages["team_lead"]
    html = lead.get("/kpis?by=process&granularity=week").text
    data = _page_json(html, "kpi-data")
    assert data["by"] == "process" and data["granularity"] == "week"
    assert [r["group"]["process"] for r in data["totals"]] == ["three_steps"]
    assert data["totals"][0]["volume"] == 1 and data["periods"][0]["volume"] == 1
    assert 'id="chart-volume"' in html and 'id="kpi-table"' in html
    exported = lead.get("/kpis/export.csv?by=process")
    assert exported.text.splitlines()[0].startswith("process,volume")
    assert lead.get("/kpis?start=2026-02-01&end=2026-01-01").status_code == 422
    assert lead.get("/kpis?by=nonsense").status_code == 422


def test_case_page_marks_the_failing_element_of_an_open_incident(
    ctx: AppContext, pages: dict[str, PageClient]
) -> None:
    from retention_flow.services.cases import lifecycle as cases
    from retention_flow.services.process_models import deployments as processes
    from tests.factories import OWNER, actor, bundle_files

    files = bundle_files("three_steps")
    files["three_steps.bpmn"] = files["three_steps.bpmn"].replace(b"score = 42", b"score = 1 // d")
    processes.deploy(ctx, files, OWNER)
    case = cases.start_case(ctx, actor("a", "agent", "telemarketing"), "three_steps", {"d": 0})
    html = pages["auditor"].get(f"/audit/cases/{case.id}").text
    assert _page_json(html, "diagram-marks")["failed"] == ["prepare_case"]
    assert "failed (open incident)" in html  # in the legend
