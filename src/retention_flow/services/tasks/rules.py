"""Work-item rules the task use cases share: loading an item (with what a use case
needs of its case), who may see or take it (lane role, partner organisation), and the
four-eyes principle."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import and_, bindparam, select
from sqlmodel import Session

from retention_flow.core.errors import CaseSuspended, Forbidden, NotFound
from retention_flow.services.platform.context import Actor, AppContext
from retention_flow.services.process_models.deployments import bundle_for
from retention_flow.services.steps.case_head import CaseHead
from retention_flow.services.steps.save import CASE, HEAD_COLUMNS, WORK

SUPERVISOR_ROLES = frozenset({"team_lead", "admin"})
PARTNER_ROLE = "partner"

_SELECT_ITEM = select(WORK).where(WORK.c.id == bindparam("b_id"))
#: the work item with what a claim needs of its case (deployment, audit chain head)
_SELECT_ITEM_HEAD = (
    select(
        WORK,
        CASE.c.deployment_id.label("case_deployment_id"),
        CASE.c.status.label("case_status"),
        CASE.c.audit_seq.label("case_audit_seq"),
        CASE.c.audit_hash.label("case_audit_hash"),
    )
    .join(CASE, CASE.c.id == WORK.c.case_id)
    .where(WORK.c.id == bindparam("b_id"))
)
#: the work item with its case's deployment and data (the task page)
SELECT_ITEM_CASE = (
    select(
        WORK,
        CASE.c.deployment_id.label("case_deployment_id"),
        CASE.c.data.label("case_data"),
    )
    .join(CASE, CASE.c.id == WORK.c.case_id)
    .where(WORK.c.id == bindparam("b_id"))
)

_HEAD = "head_"
#: the work item with its case's whole head (completion: ``load_item_with_head``)
_SELECT_ITEM_CASE_HEAD = (
    select(WORK, *(c.label(_HEAD + c.name) for c in HEAD_COLUMNS))
    .join(CASE, CASE.c.id == WORK.c.case_id)
    .where(WORK.c.id == bindparam("b_id"))
)


def load_item(session: Session, task_id: str, statement: Any = _SELECT_ITEM) -> Mapping[Any, Any]:
    row = session.connection().execute(statement, {"b_id": task_id}).mappings().first()
    if row is None:
        raise NotFound(f"task {task_id} not found")
    return row


def load_item_with_head(session: Session, task_id: str) -> tuple[Mapping[Any, Any], CaseHead]:
    """The work item and its case's head, in one query (completing a task needs both)."""
    row = load_item(session, task_id, _SELECT_ITEM_CASE_HEAD)
    return row, CaseHead(**{c.name: row[_HEAD + c.name] for c in HEAD_COLUMNS})


def load_item_head(session: Session, task_id: str) -> Mapping[Any, Any]:
    """The work item plus its case's deployment and audit head, in one query."""
    return load_item(session, task_id, _SELECT_ITEM_HEAD)


def check_not_suspended(item: Mapping[Any, Any]) -> None:
    """A suspended case's tasks stay put: no claim, no completion (409)."""
    if item.get("case_status") == "suspended":
        raise CaseSuspended(f"case {item['case_id']} is suspended; its tasks wait until resumed")


def check_role(actor: Actor, item: Mapping[Any, Any]) -> None:
    check_partner(actor, item)
    if item["role"] not in actor.roles:
        raise Forbidden(
            f"task {item['id']} belongs to role '{item['role']}', which you do not hold"
        )


def check_partner(actor: Actor, item: Mapping[Any, Any]) -> None:
    """A partner-scoped task is invisible to other organisations: 404, not 403."""
    foreign = item.get("partner") and item["partner"] != actor.partner
    if foreign and not (actor.roles & (SUPERVISOR_ROLES | {"auditor"})):
        raise NotFound(f"task {item['id']} not found")


def check_four_eyes(session: Session, actor: Actor, item: Mapping[Any, Any], other: str) -> None:
    """The four-eyes principle: whoever completed ``other`` on this case may not do this."""
    done_by = session.execute(
        select(WORK.c.ended_by).where(
            and_(
                WORK.c.case_id == item["case_id"],
                WORK.c.element_id == other,
                WORK.c.state == "completed",
            )
        )
    ).scalars()
    if actor.username in set(done_by):
        raise Forbidden(
            f"four-eyes principle: you completed '{other}' on this case, "
            f"so someone else must do '{item['element_id']}'"
        )


def four_eyes_partner(
    ctx: AppContext, session: Session, deployment_id: str, element_id: str
) -> str | None:
    bundle = bundle_for(ctx, session, deployment_id)
    return next(
        (
            m.four_eyes_with
            for (_s, e), m in bundle.user_tasks.items()
            if e == element_id and m.four_eyes_with
        ),
        None,
    )


def check_can_see(actor: Actor, item: Mapping[Any, Any]) -> None:
    check_partner(actor, item)
    if item["role"] in actor.roles or item["claimed_by"] == actor.username:
        return
    if actor.roles & (SUPERVISOR_ROLES | {"auditor"}):
        return
    raise NotFound(f"task {item['id']} not found")
