"""``retention-flow incidents`` and ``retention-flow case``, run as an operator runs them
(a subprocess) against the test database."""

from __future__ import annotations

import json

from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.cases.views import CaseView
from retention_flow.services.platform.context import AppContext
from retention_flow.services.process_models import deployments as processes
from tests.factories import OWNER, actor, bundle_files
from tests.integration.test_cli import _cli

AGENT = actor("agent", "agent", "telemarketing")


def _failing_case(ctx: AppContext) -> CaseView:
    files = bundle_files("three_steps")
    files["three_steps.bpmn"] = files["three_steps.bpmn"].replace(
        b"score = 42", b"score = 100 // divisor"
    )
    processes.deploy(ctx, files, OWNER)
    case = cases.start_case(ctx, AGENT, "three_steps", {"divisor": 0})
    assert case.status == "incident"
    return case


def test_incidents_list_show_retry(ctx: AppContext, db_url: str) -> None:
    case = _failing_case(ctx)
    listed = _cli(db_url, "incidents", "list", "--process", "three_steps", "--version", "1")
    assert listed["count"] == 1
    [incident] = listed["data"]
    assert incident["case_id"] == case.id and incident["element_id"] == "prepare_case"
    assert _cli(db_url, "incidents", "list", "--code", "script_budget_exceeded")["count"] == 0
    shown = _cli(db_url, "incidents", "show", incident["id"])
    assert shown["data"] == {"divisor": 0} and shown["element_name"] == "Prepare case"

    patch = json.dumps({"divisor": 4})
    refused = _cli(db_url, "incidents", "retry", incident["id"], "--patch", patch, check=False)
    assert refused.returncode == 2 and json.loads(refused.stderr)["error"] == "validation_failed"
    fixed = _cli(
        db_url,
        "incidents",
        "retry",
        incident["id"],
        "--patch",
        patch,
        "--reason",
        "fixed",
        "-u",
        "olga",
    )
    assert fixed["status"] == "active" and fixed["data"]["score"] == 25
    again = _cli(db_url, "incidents", "retry", incident["id"], check=False)
    assert again.returncode == 2 and json.loads(again.stderr)["error"] == "incident_not_open"
    resolved = _cli(db_url, "incidents", "list", "--status", "all")["data"]
    assert [(i["status"], i["resolved_by"]) for i in resolved] == [("resolved", "olga")]


def test_incidents_retry_all_queues_a_batch(ctx: AppContext, db_url: str) -> None:
    _failing_case(ctx)  # raised on the test clock, before the command's own (real) time
    batch = _cli(
        db_url, "incidents", "retry-all", "--process", "three_steps", "--reason", "after fix"
    )
    assert batch["matched"] == 1 and batch["state"] == "queued"
    assert _cli(db_url, "incidents", "batch", batch["id"])["id"] == batch["id"]


def test_case_control_commands(ctx: AppContext, db_url: str) -> None:
    processes.deploy(ctx, bundle_files("three_steps"), OWNER)
    case_id = str(cases.start_case(ctx, AGENT, "three_steps", {"customer_id": "C-1"}).id)
    assert _cli(db_url, "case", "suspend", case_id, "--reason", "check")["status"] == "suspended"
    patched = _cli(
        db_url,
        "case",
        "patch-data",
        case_id,
        "--patch",
        '{"customer_id": "C-2"}',
        "--reason",
        "typo",
    )
    assert patched["data"]["customer_id"] == "C-2"
    wrong = _cli(
        db_url,
        "case",
        "patch-data",
        case_id,
        "--patch",
        '{"call_result": "maybe"}',
        "--reason",
        "x",
        check=False,
    )
    assert wrong.returncode == 2 and "call_result" in wrong.stderr
    assert _cli(db_url, "case", "resume", case_id)["status"] == "active"
    assert _cli(db_url, "case", "cancel", case_id, "--reason", "duplicate")["status"] == "cancelled"
