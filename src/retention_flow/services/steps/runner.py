"""The machinery every case use case shares: run one operation on a case's workflow and
persist the result (or its incident) in one transaction, retrying on optimistic-lock
conflicts with fresh state."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from retention_flow.core.data_limits import check_limits
from retention_flow.core.errors import CaseConflict, CaseNotActive, CaseSuspended
from retention_flow.db.session import write_session
from retention_flow.engine.runtime import Operation, StepFailed
from retention_flow.services.audit.trail import NewEvent
from retention_flow.services.cases.views import (
    BeforeCommit,
    CaseView,
    TaskView,
    case_view,
    open_tasks,
    task_view,
)
from retention_flow.services.platform.context import Actor, AppContext, bundle_scope
from retention_flow.services.process_models.deployments import bundle_for, process_of
from retention_flow.services.steps.save import (
    CaseHead,
    StepInput,
    StepResult,
    checkout,
    load_head,
    rebuilder,
    save_step,
    waiting_of,
)
from retention_flow.services.steps.scope import StepContext, step_context

T = TypeVar("T")
#: attribute on a live workflow: what it waited on when it was last saved
WAITING_ATTR = "_retention_flow_waiting"
MAX_ATTEMPTS = 4


def retrying(fn: Callable[[], T]) -> T:
    """Run a use case again on an optimistic-lock conflict (fresh state each time).

    A conflict means someone else changed the case between our read and our write;
    re-running re-checks everything, so a task completed meanwhile now answers
    ``task_not_ready`` instead of being applied twice.
    """
    for attempt in range(MAX_ATTEMPTS):
        try:
            return fn()
        except CaseConflict:
            if attempt == MAX_ATTEMPTS - 1:
                raise
        except OperationalError as exc:  # SQLite: lock wait timed out
            if "locked" not in str(exc) or attempt == MAX_ATTEMPTS - 1:
                raise CaseConflict("the database is busy; try again") from exc
    raise AssertionError("unreachable")


def new_open(result: StepResult) -> list[TaskView]:
    return [task_view(item) for item in result.new_work_items]


def run_and_save(
    ctx: AppContext,
    session: Session,
    head: CaseHead,
    wf: Any,
    bundle: Any,
    operation: Operation | None,
    rebuild: Callable[[], Any],
    events: list[NewEvent],
    actor: Actor,
    **save_kwargs: Any,
) -> tuple[StepResult, Any]:
    """The common step: run, then persist success or the incident state."""
    failure: StepFailed | None = None
    if "insert_case" not in save_kwargs:
        # known from the previous step when the workflow stayed live in memory
        known = getattr(wf, WAITING_ATTR, None)
        save_kwargs["before"] = known or waiting_of(ctx.runtime.snapshot(wf, bundle, []))
    base = save_kwargs.pop("base_data", head.data)
    step = StepContext(session, head.id, actor.username, ctx.now(), settings=ctx.settings)
    with step_context(step), bundle_scope(bundle):
        try:
            log = ctx.runtime.run(wf, operation, rebuild)
            ran, changes = log.ran, log.changes
        except StepFailed as exc:
            step.rollback()  # what service tasks wrote is undone with the step
            failure, wf, ran, changes = exc, exc.workflow, [], exc.changes
        else:
            step.release()
    events = [*events, *step.events]
    snapshot = ctx.runtime.snapshot(wf, bundle, ran, {**base, **changes})
    if "insert_case" in save_kwargs or snapshot.data != head.data:
        # what a step leaves stays within the limits the door applies: the next step's
        # cost is bounded whatever scripts and merges did (413 names the limit)
        check_limits(snapshot.data, ctx.data_limits)
    step_input = StepInput(
        head=head,
        wf=wf,
        bundle=bundle,
        snapshot=snapshot,
        events=events,
        actor=actor.username,
        failure=failure,
        **save_kwargs,
    )
    result = save_step(ctx, session, step_input)
    setattr(wf, WAITING_ATTR, waiting_of(snapshot))
    return result, wf


def step_case(
    ctx: AppContext,
    actor: Actor,
    case_ref: str | Callable[[Session], str | CaseHead],
    make_operation: Callable[
        [Session, CaseHead], tuple[Operation | None, list[NewEvent], dict[str, Any]]
    ],
    *,
    allowed_status: tuple[str, ...] = ("active",),
    before_commit: BeforeCommit | None = None,
) -> tuple[StepResult, CaseView]:
    """Load a case, apply one operation plus automatic steps, save, commit.

    ``case_ref`` is the case id, or a function finding it inside the transaction (its id,
    or its head when the function read that anyway: one query less).
    ``before_commit(session, case_view)`` writes more in the same transaction (e.g. the
    answer to an idempotency key), so it commits with the step or not at all.
    """

    def once() -> tuple[StepResult, CaseView]:
        with write_session(ctx.db) as session:
            found = case_ref if isinstance(case_ref, str) else case_ref(session)
            head = found if isinstance(found, CaseHead) else load_head(session, found)
            case_id = head.id
            if head.status == "suspended" and "suspended" not in allowed_status:
                raise CaseSuspended(f"case {case_id} is suspended; resume it first")
            if head.status not in allowed_status:
                raise CaseNotActive(f"case {case_id} is {head.status}")
            bundle = bundle_for(ctx, session, head.deployment_id)
            process = process_of(bundle, head.process_id)
            operation, events, save_kwargs = make_operation(session, head)
            wf = checkout(ctx, session, head, process)
            result, wf = run_and_save(
                ctx,
                session,
                head,
                wf,
                bundle,
                operation,
                rebuilder(ctx, session, head, process),
                events,
                actor,
                **save_kwargs,
            )
            opened = open_tasks(session, case_id) if result.kept_open_items else new_open(result)
            view = case_view(result.head, opened)
            if before_commit is not None:
                before_commit(session, view)
            session.commit()
        ctx.live.put(case_id, result.head.lock_version, wf)
        return result, view

    return retrying(once)
