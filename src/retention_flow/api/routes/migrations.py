"""Operating running cases across versions: migrations (bulk and single case) and token
moves. Process owners and admins only; partners never."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query, Response
from pydantic import BaseModel, Field

from retention_flow.services.cases import migrations
from retention_flow.services.cases import move as case_move
from retention_flow.services.cases.views import CaseView, MigrationPlan, MigrationProgress
from retention_flow.services.platform.context import Actor

from ..deps import CtxDep, VisibleCase, require_role
from ..schemas import MAX_INT, CasePublic
from ..strict_body import api_router

router = api_router(tags=["migrations"])

Operator = Annotated[Actor, Depends(require_role("process_owner", "admin"))]
ElementId = Annotated[str, Field(min_length=1, max_length=200)]


class CaseFilter(BaseModel):
    case_ids: list[Annotated[str, Field(max_length=36)]] | None = Field(
        default=None, max_length=100_000, description="only these cases"
    )
    elements: list[ElementId] | None = Field(
        default=None, max_length=200, description="cases with an open task or timer here"
    )
    statuses: list[str] = Field(default=["active"], max_length=5)


class MigrationIn(BaseModel):
    process_id: str = Field(max_length=200)
    from_version: int = Field(ge=1, le=MAX_INT)
    to_version: int = Field(ge=1, le=MAX_INT)
    case_filter: CaseFilter = Field(default_factory=CaseFilter)
    mapping: dict[ElementId, ElementId] = Field(
        default_factory=dict, description="old element id -> new element id"
    )
    data_defaults: dict[str, Any] = Field(
        default_factory=dict, description="data given to cases that lack these keys"
    )
    dry_run: bool = True
    reason: str = Field(default="", max_length=2000)


class CaseMigrationIn(BaseModel):
    to_version: int = Field(ge=1, le=MAX_INT)
    mapping: dict[ElementId, ElementId] = Field(default_factory=dict)
    data_defaults: dict[str, Any] = Field(default_factory=dict)
    dry_run: bool = False
    reason: str = Field(default="", max_length=2000)


class MoveIn(BaseModel):
    cancel: list[ElementId] = Field(default_factory=list, max_length=100)
    activate: list[ElementId] = Field(default_factory=list, max_length=100)
    reason: str = Field(max_length=2000)


def _request(body: MigrationIn) -> migrations.MigrationRequest:
    return migrations.MigrationRequest(
        process_id=body.process_id,
        from_version=body.from_version,
        to_version=body.to_version,
        case_ids=body.case_filter.case_ids,
        elements=body.case_filter.elements,
        statuses=body.case_filter.statuses,
        mapping=body.mapping,
        data_defaults=body.data_defaults,
        reason=body.reason,
    )


@router.post("/api/migrations", status_code=200, response_model=None)
def create_migration(
    ctx: CtxDep,
    user: Operator,
    body: MigrationIn,
    response: Response,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> MigrationPlan | MigrationProgress:
    """``dry_run`` (the default): per case, can it migrate or why not (the first ``limit``
    cases listed, counts over all). Otherwise (``reason`` required): 202 with the
    migration's progress; a worker job migrates the cases in batches."""
    request = _request(body)
    if body.dry_run:
        return migrations.dry_run(ctx, user, request, limit=limit)
    response.status_code = 202
    return migrations.start(ctx, user, request)


@router.get("/api/migrations/{migration_id}")
def get_migration(ctx: CtxDep, _user: Operator, migration_id: str) -> MigrationProgress:
    """Progress: total, done, failed (with reasons), pending; ``status`` running/done."""
    return migrations.get_migration(ctx, migration_id)


@router.post("/api/cases/{case_id}/migrate", response_model=None)
def migrate_case(
    ctx: CtxDep, user: Operator, case_id: VisibleCase, body: CaseMigrationIn
) -> MigrationPlan | MigrationProgress:
    """Migrate one case now (or its dry run): answers the migration with its one case."""
    request = migrations.MigrationRequest(
        process_id="",
        from_version=0,
        to_version=body.to_version,
        mapping=body.mapping,
        data_defaults=body.data_defaults,
        reason=body.reason,
    )
    return migrations.migrate_one_case(ctx, user, case_id, request, dry_run_only=body.dry_run)


@router.post("/api/cases/{case_id}/move", response_model=CasePublic)
def move_case(ctx: CtxDep, user: Operator, case_id: VisibleCase, body: MoveIn) -> CaseView:
    """Cancel the tokens at ``cancel`` and start tokens at ``activate`` (422 names an
    element without a token or not in the case's version)."""
    return case_move.move_case(ctx, user, case_id, body.cancel, body.activate, body.reason)
