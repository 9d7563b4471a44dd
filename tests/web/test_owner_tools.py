"""The editors' helpers over HTTP: the sandbox check as the owner types, the DMN "try it"
box (the sandboxed engine on the edited table), the properties panel's choices, the
favicon."""

from __future__ import annotations

import re
from typing import Any

from retention_flow.services.platform.context import AppContext
from retention_flow.services.process_models import editing, versions
from retention_flow.services.steps import handlers
from tests.factories import OWNER, deploy
from tests.web.conftest import PageClient

DMN = "offer_decision.dmn"
BASE = "/processes/all_elements/1"


def _post(page: PageClient, url: str, payload: dict[str, Any]) -> Any:
    return page.client.post(url, json=payload, headers={"X-CSRF-Token": page.token})


def test_expression_check_is_the_deploy_check(
    ctx: AppContext, pages: dict[str, PageClient]
) -> None:
    deploy(ctx, "all_elements")
    owner = pages["process_owner"]
    url = f"{BASE}/check-expression"
    assert _post(owner, url, {"source": "offer_accepted == True"}).json() == {"ok": True}
    bad = _post(owner, url, {"source": "__import__('os').getpid()"}).json()
    assert bad["ok"] is False and bad["message"]
    syntax = _post(owner, url, {"source": "x = ", "mode": "exec"}).json()
    assert syntax["ok"] is False
    refused = owner.client.post(url, json={"source": "1"})  # no CSRF header
    assert refused.status_code == 403


def test_try_runs_the_edited_table_and_names_the_matching_rules(
    ctx: AppContext, pages: dict[str, PageClient]
) -> None:
    deploy(ctx, "all_elements")
    owner = pages["process_owner"]
    xml = versions.bundle_file(ctx, "all_elements", 1, DMN)
    url = f"{BASE}/dmn/{DMN}/try"
    answer = _post(owner, url, {"xml": xml, "data": {"tenure_months": 30, "churn_risk": "high"}})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["matches"][0]["rule_id"] == "rule_loyal_high_risk"
    assert body["result"] == {"offer_code": "LOYALTY_20"}
    # the edited (not deployed) table is what runs
    edited = xml.replace('"LOYALTY_20"', '"LOYALTY_25"')
    again = _post(owner, url, {"xml": edited, "data": {"tenure_months": 30, "churn_risk": "high"}})
    assert again.json()["result"] == {"offer_code": "LOYALTY_25"}
    # a cell the sandbox refuses is never run: 422 naming the cell
    hostile = xml.replace('"LOYALTY_20"', "open('/etc/passwd').read()")
    refused = _post(owner, url, {"xml": hostile, "data": {"tenure_months": 30}})
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["element_id"] == "rule_loyal_high_risk_offer"
    # a missing input is an evaluation error in plain words, not a 500
    missing = _post(owner, url, {"xml": xml, "data": {}})
    assert missing.status_code == 422 and "tenure_months" in missing.json()["detail"]
    # only a file of the bundle
    assert _post(owner, f"{BASE}/dmn/other.dmn/try", {"xml": xml}).status_code == 422


def test_choices_offer_forms_services_and_roles(
    ctx: AppContext, pages: dict[str, PageClient]
) -> None:
    deploy(ctx, "all_elements")
    body = pages["process_owner"].get(f"{BASE}/choices").json()
    assert "present_offer.schema.json" in body["forms"]
    assert [s["name"] for s in body["services"]] == sorted(ctx.service_handlers)
    assert "offer_code" in editing._params_read(handlers.book_contract_change)
    assert "telemarketing" in body["roles"] and "system" not in body["roles"]
    # all_elements has no manifest: no lane names mapped, no correlation keys
    assert body["lane_names"] == [] and body["correlation_keys"] == []


def test_favicon(pages: dict[str, PageClient]) -> None:
    icon = pages["anonymous"].client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg")


def test_compare_shows_each_changed_cell_before_and_after(
    ctx: AppContext, pages: dict[str, PageClient]
) -> None:
    deploy(ctx, "all_elements")
    dmn = versions.bundle_file(ctx, "all_elements", 1, DMN)
    versions.deploy_edit(
        ctx, OWNER, "all_elements", 1, {DMN: dmn.replace('"DISCOUNT_10"', '"DISCOUNT_15"')}
    )
    html = pages["process_owner"].get("/processes/all_elements/compare?old=1&new=2").text
    row = re.search(r'<tr data-cell-id="rule_new_high_risk_offer">(.*?)</tr>', html, re.S)
    assert row, html
    assert "<del>&#34;DISCOUNT_10&#34;</del>" in row.group(1)
    assert "<ins>&#34;DISCOUNT_15&#34;</ins>" in row.group(1)
    assert "Offer code" in row.group(1)
