"""The incentive plan and the QA checklist, edited by a process owner in the browser.

Both live in a bundle: the plan in ``bundle.json`` (``incentive_plan``), the checklist in
the form schema named by ``qa_form``. Saving deploys the newest bundle that holds a plan
again with those two files replaced (``services.versions.deploy_edit``), so every change
is a new deployment: versioned, audited like any deploy, and applied from the first
period that starts after it (``services.payouts.plan_for``); statements already run keep
the plan they were computed with.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select

from retention_flow.core.errors import Conflict, ValidationFailed
from retention_flow.core.incentive_plan import IncentivePlan
from retention_flow.db.session import read_session
from retention_flow.db.tables import DEPLOYMENT, PROCESS_VERSION
from retention_flow.engine.bundle import MANIFEST_NAME
from retention_flow.services.incentives.plan_lookup import plan_hash
from retention_flow.services.incentives.views import PlanSource, PlanVersion
from retention_flow.services.platform.context import Actor, AppContext
from retention_flow.services.process_models import versions
from retention_flow.services.process_models.deployments import DeployResult


def next_period(at: datetime) -> str:
    """The first ``YYYY-MM`` that starts after ``at``: where a plan deployed then applies."""
    at = at.astimezone(UTC)
    year, month = (at.year + 1, 1) if at.month == 12 else (at.year, at.month + 1)
    return f"{year}-{month:02d}"


def source(ctx: AppContext) -> PlanSource | None:
    """The newest bundle holding a plan, or None if no bundle has one."""
    with read_session(ctx.db) as session:
        rows = session.execute(
            select(
                DEPLOYMENT.c.id,
                DEPLOYMENT.c.manifest,
                DEPLOYMENT.c.deployed_at,
                DEPLOYMENT.c.deployed_by,
            ).order_by(DEPLOYMENT.c.deployed_at, DEPLOYMENT.c.id)
        ).all()
        history: list[PlanVersion] = []
        newest = None
        for row in rows:
            plan = (row.manifest or {}).get("incentive_plan")
            if not plan:
                continue
            newest = row
            digest = plan_hash(plan)
            if not history or history[-1].plan_hash != digest:
                history.append(
                    PlanVersion(
                        deployment_id=row.id,
                        deployed_at=row.deployed_at,
                        deployed_by=row.deployed_by,
                        plan_hash=digest,
                        applies_from=next_period(row.deployed_at),
                    )
                )
        if newest is None:
            return None
        anchor = session.execute(
            select(PROCESS_VERSION.c.process_id, PROCESS_VERSION.c.version)
            .where(PROCESS_VERSION.c.deployment_id == newest.id)
            .order_by(PROCESS_VERSION.c.process_id)
            .limit(1)
        ).one()
    found = versions.version_files(ctx, anchor.process_id, anchor.version)
    plan = newest.manifest["incentive_plan"]
    name = ctx.settings.qa_form
    return PlanSource(
        process_id=anchor.process_id,
        version=anchor.version,
        deployment_id=newest.id,
        plan=plan,
        plan_text=json.dumps(plan, indent=2, sort_keys=True),
        checklist_name=name,
        checklist_text=found.files.get(name),
        history=list(reversed(history)),
    )


def _plan(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
        IncentivePlan.model_validate(data)
    except ValueError as exc:  # json and pydantic errors both
        errors = (
            [
                {"field": "plan." + ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
                for e in exc.errors()
            ]
            if isinstance(exc, ValidationError)
            else [{"field": "plan", "message": f"not JSON: {exc}"}]
        )
        raise ValidationFailed("the incentive plan is not valid", errors=errors) from None
    return dict(data)


def _checklist(text: str) -> str:
    try:
        schema = json.loads(text)
    except ValueError as exc:
        raise ValidationFailed(
            "the QA checklist is not valid",
            errors=[{"field": "checklist", "message": f"not JSON: {exc}"}],
        ) from None
    items = [
        k
        for k, p in (schema.get("properties") or {} if isinstance(schema, dict) else {}).items()
        if isinstance(p, dict) and p.get("type") == "boolean"
    ]
    if not items:
        raise ValidationFailed(
            "the QA checklist is not valid",
            errors=[{"field": "checklist", "message": "a form schema with yes/no items"}],
        )
    return text if text.endswith("\n") else text + "\n"


def save(
    ctx: AppContext, actor: Actor, plan_text: str, checklist_text: str | None
) -> tuple[DeployResult, str]:
    """Deploy the plan (and checklist) as a new version of their bundle; (the deploy's
    result, the first period the plan applies to). Bundle validation errors raise
    ``InvalidProcess`` as on any deploy."""
    found = source(ctx)
    if found is None:
        raise Conflict("no deployed bundle has an incentive plan (bundle.json incentive_plan)")
    plan = _plan(plan_text.replace("\r\n", "\n"))
    files = versions.version_files(ctx, found.process_id, found.version).files
    manifest = json.loads(files[MANIFEST_NAME])
    manifest["incentive_plan"] = plan
    replacements = {MANIFEST_NAME: json.dumps(manifest, indent=2, sort_keys=True)}
    if checklist_text is not None and found.checklist_text is not None:
        text = checklist_text.replace("\r\n", "\n")
        if text.strip() != found.checklist_text.strip():
            replacements[found.checklist_name] = _checklist(text)
    result = versions.deploy_edit(ctx, actor, found.process_id, found.version, replacements)
    return result, next_period(ctx.now())
