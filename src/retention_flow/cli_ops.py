"""``retention-flow incidents`` and ``retention-flow case``: operate live cases from the
command line (the same services as the API; the acting user is recorded in the audit
trail with the reason)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from .cli_common import UserOpt, _actor, _ctx, _json_arg, _out

incidents_app = typer.Typer(help="failed automatic steps: list, show, retry", no_args_is_help=True)
case_app = typer.Typer(
    help="control a live case: cancel, suspend, resume, correct data", no_args_is_help=True
)

ReasonOpt = Annotated[str, typer.Option("--reason", help="why (kept in the audit trail)")]
PatchOpt = Annotated[str | None, typer.Option("--patch", help="JSON merge patch of the case data")]
OPERATOR = ["process_owner"]


@incidents_app.command("list")
def list_incidents(
    process: Annotated[str | None, typer.Option(help="process id")] = None,
    version: Annotated[int | None, typer.Option(help="process version")] = None,
    element: Annotated[str | None, typer.Option(help="element id")] = None,
    code: Annotated[str | None, typer.Option(help="error code, e.g. script_error")] = None,
    since: Annotated[datetime | None, typer.Option(help="raised at or after (ISO)")] = None,
    status: Annotated[str, typer.Option(help="open, resolved or all")] = "open",
    limit: int = 50,
    offset: int = 0,
) -> None:
    """Incidents, newest first: ``{"data": [...], "count": N}``."""
    from retention_flow.services.cases import incidents

    from .core.errors import ValidationFailed

    if status not in incidents.STATUSES:
        raise ValidationFailed(f"status must be one of {', '.join(incidents.STATUSES)}")
    items, count = incidents.list_incidents(
        _ctx(),
        process_id=process,
        version=version,
        element_id=element,
        error_code=code,
        since=since,
        status=status,
        limit=limit,
        offset=offset,
    )
    _out({"data": items, "count": count})


@incidents_app.command("show")
def show_incident(incident_id: str) -> None:
    """One incident: element, error, case data at failure, traceback."""
    from retention_flow.services.cases import incidents

    _out(incidents.get_incident(_ctx(), incident_id))


@incidents_app.command("retry")
def retry_incident(
    incident_id: str,
    patch: PatchOpt = None,
    reason: Annotated[str | None, typer.Option(help="required with --patch")] = None,
    user: UserOpt = "cli",
) -> None:
    """Run the failed step again, optionally after a data correction; prints the case."""
    from retention_flow.services.cases import incidents

    data = _json_arg(patch, "--patch") if patch is not None else None
    _out(incidents.retry_incident(_ctx(), _actor(user, OPERATOR), incident_id, data, reason))


@incidents_app.command("retry-all")
def retry_all(
    reason: ReasonOpt,
    process: Annotated[str | None, typer.Option(help="process id")] = None,
    version: Annotated[int | None, typer.Option(help="process version")] = None,
    element: Annotated[str | None, typer.Option(help="element id")] = None,
    code: Annotated[str | None, typer.Option(help="error code")] = None,
    since: Annotated[datetime | None, typer.Option(help="raised at or after (ISO)")] = None,
    user: UserOpt = "cli",
) -> None:
    """Queue a bulk retry of the matching open incidents (the worker, or `serve`, runs
    it); prints the batch. Follow it with `incidents batch ID`."""
    from retention_flow.services.cases import incident_batches

    filters = {
        "process_id": process,
        "version": version,
        "element_id": element,
        "error_code": code,
        "since": since,
    }
    _out(incident_batches.start_batch(_ctx(), _actor(user, OPERATOR), filters, reason))


@incidents_app.command("batch")
def batch(batch_id: str) -> None:
    """Progress of a bulk retry."""
    from retention_flow.services.cases import incident_batches

    _out(incident_batches.get_batch(_ctx(), batch_id))


@case_app.command("cancel")
def cancel(case_id: str, reason: ReasonOpt, user: UserOpt = "cli") -> None:
    from retention_flow.services.cases import control as case_control

    _out(case_control.cancel_case(_ctx(), _actor(user, OPERATOR), case_id, reason))


@case_app.command("suspend")
def suspend(case_id: str, reason: ReasonOpt, user: UserOpt = "cli") -> None:
    from retention_flow.services.cases import control as case_control

    _out(case_control.suspend_case(_ctx(), _actor(user, OPERATOR), case_id, reason))


@case_app.command("resume")
def resume(
    case_id: str,
    reason: Annotated[str | None, typer.Option(help="why (optional)")] = None,
    user: UserOpt = "cli",
) -> None:
    from retention_flow.services.cases import control as case_control

    _out(case_control.resume_case(_ctx(), _actor(user, OPERATOR), case_id, reason))


@case_app.command("patch-data")
def patch_data(
    case_id: str,
    patch: Annotated[str, typer.Option("--patch", help="JSON merge patch of the case data")],
    reason: ReasonOpt,
    user: UserOpt = "cli",
) -> None:
    """Correct the case data (checked against the types the bundle's forms declare)."""
    from retention_flow.services.cases import control as case_control

    data = _json_arg(patch, "--patch")
    _out(case_control.patch_case_data(_ctx(), _actor(user, OPERATOR), case_id, data, reason))
