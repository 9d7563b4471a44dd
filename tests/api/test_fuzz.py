"""Property-based fuzzing of the REST API from its own OpenAPI schema (schemathesis).

Every operation, called by every role's user with its own token (``tests.api.fuzzing``),
bounded to about two minutes: every answer is below 500, documented, and matches its
schema. ``bench/fuzz_api.py`` runs the same for longer.
"""

from __future__ import annotations

import os

from retention_flow.api.app import create_app
from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.partners import organisations as partners
from retention_flow.services.platform.context import AppContext
from tests.api.fuzzing import fuzz
from tests.api.test_authorisation_matrix import _stored_scan
from tests.factories import actor, deploy


def known_ids(ctx: AppContext) -> dict[str, str]:
    """Real ids for the path parameters: a case with an open task, a process, a scan."""
    deploy(ctx, "three_steps")
    partners.save_partner(
        ctx,
        actor("root", "admin"),
        "acme",
        {"name": "Acme", "capacity_per_period": 9, "cost_per_lead_cents": 1, "commission_cents": 2},
    )
    data = {"customer_id": "C-1", "allocated_partner": "acme"}
    case = cases.start_case(ctx, actor("starter"), "three_steps", data)
    return {
        "case_id": case.id,
        "task_id": case.open_tasks[0].id,
        "process_id": "three_steps",
        "version": "1",
        "scan_id": _stored_scan(ctx),
        "page_no": "1",
        "field": "case_number",
        "message_name": "offer_answer",
    }


#: examples per operation and role; the run stops at the time limit either way
EXAMPLES = int(os.environ.get("RETENTION_FLOW_FUZZ_EXAMPLES", "5"))
SECONDS = float(os.environ.get("RETENTION_FLOW_FUZZ_SECONDS", "240"))


def test_no_server_errors_and_schema_holds(
    ctx: AppContext, headers: dict[str, dict[str, str]]
) -> None:
    tokens = {role: h for role, h in headers.items() if role != "anonymous"}
    assert len(tokens) >= 9  # one user per role, partners of two organisations
    report = fuzz(create_app(ctx), tokens, examples=EXAMPLES, seconds=SECONDS, known=known_ids(ctx))
    print(report.summary())  # the figures of the run (-s)
    for name, answers in report.by_operation.items():
        print(f"  {name}: {dict(sorted(answers.items()))}")
    assert report.operations >= 35 and report.operations_run == report.operations, report.summary()
    assert report.statuses["2xx"] > 0 and report.statuses["4xx"] > 0
    assert report.server_errors == 0 and not report.failures, "\n\n".join(report.failures)
