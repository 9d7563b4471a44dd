"""Every diagram in processes/ and tests/data survives save/restore at every step."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from retention_flow.db.session import read_session
from retention_flow.engine.bundle import load_bundle_path
from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.cases.views import TaskView
from retention_flow.services.platform.context import Actor, AppContext
from retention_flow.services.process_models import deployments as processes
from retention_flow.services.steps.save import load_head, load_state
from tests.factories import DATA, OWNER

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = json.loads((DATA / "scenarios.json").read_text())
BUNDLES = sorted(
    {p.parent for p in (ROOT / "processes").rglob("*.bpmn")}
    | {DATA / spec.get("folder", name) for name, spec in SCENARIOS["bundles"].items()}
)
EVERYONE = Actor(
    "root",
    frozenset(
        {"agent", "telemarketing", "inbound", "specialist", "team_lead", "back_office", "partner"}
    ),
)


def _roundtrip(ctx: AppContext, case_id: str) -> None:
    with read_session(ctx.db) as session:
        head = load_head(session, case_id)
        state = load_state(session, case_id)
    bundle = processes.bundle_for(ctx, read_session(ctx.db), head.deployment_id)
    process = bundle.processes[head.process_id]
    wf = ctx.runtime.load(process, state, head.serializer_version)
    assert json.loads(ctx.runtime.dump(wf)) == json.loads(state)


@pytest.mark.parametrize("folder", BUNDLES, ids=[str(p.relative_to(ROOT)) for p in BUNDLES])
def test_save_restore_roundtrip(ctx: AppContext, product_ctx: AppContext, folder: Path) -> None:
    if ROOT / "processes" in folder.parents:
        ctx = product_ctx
    result = processes.deploy(ctx, load_bundle_path(folder), OWNER)
    for version in result.versions:
        case = cases.start_case(ctx, EVERYONE, version.process_id, {"customer_id": "C-1"})
        _roundtrip(ctx, case.id)
        # walk the first open task with the first enum values of its form, then round trip again
        for task in case.open_tasks[:1]:
            data = _sample(ctx, task)
            if data is not None:
                ctx.live.clear()
                from retention_flow.services.tasks import work_items as tasks

                tasks.complete(ctx, EVERYONE, task.id, data)
                _roundtrip(ctx, case.id)


def _sample(ctx: AppContext, task: TaskView) -> dict[str, Any] | None:
    from retention_flow.services.tasks import work_items as tasks

    form = tasks.get_task(ctx, EVERYONE, task.id).form
    if form is None:
        return {}
    data: dict[str, Any] = {}
    required = list(form.get("required", []))
    for rule in form.get("allOf", []):  # "if decision is X then Y is required" as well
        [(key, cond)] = rule["if"]["properties"].items()
        first = form["properties"][key].get("enum", [None])[0]
        if key in required and cond.get("const") == first:
            required += rule["then"].get("required", [])
    for name in required:
        prop = form["properties"][name]
        if "enum" in prop:
            data[name] = prop["enum"][0]
        elif prop.get("type") == "boolean":
            data[name] = True
        elif prop.get("type") in ("integer", "number"):
            data[name] = max(prop.get("minimum", 1), 1)
        elif prop.get("type") == "string":
            data[name] = "x" * max(prop.get("minLength", 1), 1)
        else:
            return None
    return data
