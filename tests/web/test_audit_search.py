"""The auditor's case search: any part of a business key in any case, the customer by id
or name, the channel in any case; incident error texts read as written (no \\u0027)."""

from __future__ import annotations

from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.platform.context import AppContext
from retention_flow.services.process_models import deployments as processes
from tests.factories import OWNER, actor, bundle_files, deploy
from tests.web.conftest import PageClient

AGENT = actor("alice", "agent", "telemarketing")


def test_partial_any_case_key_customer_name_and_channel(
    ctx: AppContext, pages: dict[str, PageClient]
) -> None:
    deploy(ctx, "three_steps")
    data = {"customer_id": "C-4711", "customer_name": "Erika Mustermann"}
    case = cases.start_case(ctx, AGENT, "three_steps", data, business_key="RC-2026-00123")
    other = cases.start_case(ctx, AGENT, "three_steps", {"customer_id": "C-1"}, business_key="X-9")
    auditor = pages["auditor"]
    for query in (
        "business_key=rc-2026-001",
        "business_key=00123",
        "customer=mustermann",
        "customer=c-47",
        "customer=C-4711",
    ):
        html = auditor.get(f"/audit?{query}").text
        assert case.id in html and other.id not in html, query
    assert case.id not in auditor.get("/audit?business_key=%25").text  # a literal %
    assert case.id not in auditor.get("/audit?business_key=RC_2026").text  # a literal _
    channel = case.channel
    if channel:
        assert case.id in auditor.get(f"/audit?channel={channel.upper()}").text


def test_an_incident_error_reads_as_written(ctx: AppContext, pages: dict[str, PageClient]) -> None:
    files = bundle_files("three_steps")
    files["three_steps.bpmn"] = files["three_steps.bpmn"].replace(
        b"score = 42", b"score = {'a': 1}['b']"
    )
    processes.deploy(ctx, files, OWNER)
    case = cases.start_case(ctx, AGENT, "three_steps", {})
    html = pages["auditor"].get(f"/audit/cases/{case.id}").text
    assert "\\u0027" not in html
    assert "&#39;b&#39;" in html or "'b'" in html
