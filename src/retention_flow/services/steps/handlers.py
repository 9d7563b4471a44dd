"""Service-task handlers by name (``spiffworkflow:serviceTaskOperator id``).

A handler gets the task data and the evaluated parameters and returns JSON-serialisable
data for the task's result variable. Handlers run *inside* the case's step: they write
through ``current_step().connection()``, in the same transaction as the new workflow state
and its audit events, behind a savepoint — if a later automatic step of the same operation
fails, their writes are rolled back with it. Every handler is idempotent on a natural key
(case + kind), so retrying a step after an incident never books twice.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import and_, insert, select

from retention_flow.core.errors import ScriptError
from retention_flow.db.tables import CONTRACT_CHANGE, LETTER, SETTLEMENT_LINE
from retention_flow.services.audit.trail import NewEvent
from retention_flow.services.outreach.response_forms import FORM_LETTERS, form_document
from retention_flow.services.outreach.self_service_links import issue_link
from retention_flow.services.platform.context import ServiceHandler
from retention_flow.services.steps.operators import LETTER_KINDS
from retention_flow.services.steps.scope import current_step

DEFAULT_COMMISSION_CENTS = 2500


def _required(params: dict[str, Any], name: str) -> Any:
    value = params.get(name)
    if value in (None, ""):
        raise ScriptError(f"parameter '{name}' is required")
    return value


# --------------------------------------------------------------------------- handlers


def book_contract_change(data: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """Book the accepted offer on the customer's contract (once per case)."""
    return _book(params, "offer", str(_required(params, "offer_code")))


def process_cancellation(data: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """Book the cancellation the customer asked for (once per case)."""
    return _book(params, "cancellation", None)


def _book(params: dict[str, Any], kind: str, offer_code: str | None) -> dict[str, Any]:
    step = current_step()
    customer_id = str(_required(params, "customer_id"))
    conn = step.connection()
    found = conn.execute(
        select(CONTRACT_CHANGE.c.id, CONTRACT_CHANGE.c.offer_code).where(
            and_(CONTRACT_CHANGE.c.case_id == step.case_id, CONTRACT_CHANGE.c.kind == kind)
        )
    ).first()
    if found is not None:
        return {
            "status": "booked",
            "change_id": found.id,
            "kind": kind,
            "offer_code": found.offer_code,
        }
    change_id = str(uuid.uuid4())
    conn.execute(
        insert(CONTRACT_CHANGE).values(
            id=change_id,
            case_id=step.case_id,
            customer_id=customer_id,
            kind=kind,
            offer_code=offer_code,
            booked_by=step.actor,
            booked_at=step.now,
        )
    )
    step.events.append(
        NewEvent(
            "contract_changed",
            step.actor,
            detail={
                "change_id": change_id,
                "kind": kind,
                "customer_id": customer_id,
                "offer_code": offer_code,
            },
        )
    )
    return {"status": "booked", "change_id": change_id, "kind": kind, "offer_code": offer_code}


def write_letter(data: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """Put a letter in the outbox (once per case and kind); a response form or reminder
    keeps the document its PDF is rendered from (services/outreach/response_forms.py)."""
    step = current_step()
    kind = str(_required(params, "kind"))
    if kind not in LETTER_KINDS:
        raise ScriptError(f"unknown letter kind '{kind}'; one of {', '.join(sorted(LETTER_KINDS))}")
    offers = params.get("offer_codes") or []
    if not isinstance(offers, list):
        raise ScriptError("parameter 'offer_codes' must be a list")
    conn = step.connection()
    found = conn.execute(
        select(LETTER.c.id).where(and_(LETTER.c.case_id == step.case_id, LETTER.c.kind == kind))
    ).scalar_one_or_none()
    if found is not None:
        return {"status": "queued", "letter_id": found, "kind": kind}
    letter_id = str(uuid.uuid4())
    document = None
    if kind in FORM_LETTERS:  # the OCR response form: rendered from this, byte for byte
        document = form_document(
            {**data, "case_number": params.get("case_number")},
            [str(o) for o in offers],
            step.now,
        )
        if step.settings is not None and step.settings.self_service_base_url:
            # the customer's personal link to answer online (also in the form's QR code)
            document["self_service_url"] = issue_link(
                step.settings, conn, step.case_id, letter_id, step.now
            )
    conn.execute(
        insert(LETTER).values(
            id=letter_id,
            case_id=step.case_id,
            case_number=params.get("case_number"),
            customer_id=str(_required(params, "customer_id")),
            kind=kind,
            offer_codes=[str(o) for o in offers],
            status="queued",
            created_at=step.now,
            document=document,
        )
    )
    step.events.append(
        NewEvent(
            "letter_queued",
            step.actor,
            detail={"letter_id": letter_id, "kind": kind, "offer_codes": offers},
        )
    )
    return {"status": "queued", "letter_id": letter_id, "kind": kind}


def allocate_partner(data: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """Choose a partner for the lead among the eligible ones not tried before.

    With partner master data (``partner_org``): the eligible partner with capacity left
    this month that earns the most (customer value x quality - lead cost); the allocation
    counts against its capacity and is audited with its inputs. Without any partner rows
    yet: the first eligible partner not tried (the rules' preferred order).
    """
    from retention_flow.services.partners.allocation_runs import allocate_case_lead

    step = current_step()
    eligible = params.get("eligible_partners") or []
    exclude = set(params.get("exclude") or [])
    if not isinstance(eligible, list):
        raise ScriptError("parameter 'eligible_partners' must be a list")
    allocated = allocate_case_lead(
        step.connection(),
        case_id=step.case_id,
        actor=step.actor,
        now=step.now,
        data=data,
        eligible=[str(p) for p in eligible],
        exclude={str(p) for p in exclude},
    )
    if allocated is not None:
        answer, event = allocated
        step.events.append(event)
        return answer
    choice = next((str(p) for p in eligible if p not in exclude), None)
    reason = (
        None
        if choice
        else ("no eligible partner" if not eligible else "all eligible partners tried")
    )
    step.events.append(
        NewEvent(
            "partner_allocated",
            step.actor,
            detail={
                "partner_id": choice,
                "eligible": eligible,
                "excluded": sorted(exclude),
                "rule": "first eligible not tried (no partner master data)",
                "reason": reason,
            },
        )
    )
    return {"partner_id": choice, "reason": reason}


def record_settlement(data: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """One commission line for the partner that retained the customer (never two).

    The commission is the partner's ``commission_cents`` from the partner table.
    """
    from retention_flow.services.partners.organisations import commission_of

    step = current_step()
    partner_id = str(_required(params, "partner_id"))
    conn = step.connection()
    found = conn.execute(
        select(SETTLEMENT_LINE.c.id, SETTLEMENT_LINE.c.commission_cents).where(
            SETTLEMENT_LINE.c.case_id == step.case_id
        )
    ).first()
    if found is not None:
        return {
            "status": "recorded",
            "line_id": found.id,
            "commission_cents": found.commission_cents,
        }
    line_id = str(uuid.uuid4())
    commission = commission_of(conn, partner_id)
    if commission is None:
        commission = step.commission_cents.get(partner_id, DEFAULT_COMMISSION_CENTS)
    conn.execute(
        insert(SETTLEMENT_LINE).values(
            id=line_id,
            case_id=step.case_id,
            partner_id=partner_id,
            offer_code=params.get("offer_code"),
            commission_cents=commission,
            detail={"case_number": params.get("case_number")},
            created_at=step.now,
        )
    )
    step.events.append(
        NewEvent(
            "settlement_recorded",
            step.actor,
            detail={"line_id": line_id, "partner_id": partner_id, "commission_cents": commission},
        )
    )
    return {"status": "recorded", "line_id": line_id, "commission_cents": commission}


def echo(data: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """Return the parameters: lets a diagram test a service task without side effects."""
    return dict(params)


def default_service_handlers() -> dict[str, ServiceHandler]:
    from retention_flow.services.outreach.campaigns import enqueue_campaign_batch
    from retention_flow.services.scans.exceptions import resolve_scan_page

    return {
        "enqueue_campaign_batch": enqueue_campaign_batch,
        "book_contract_change": book_contract_change,
        "process_cancellation": process_cancellation,
        "write_letter": write_letter,
        "allocate_partner": allocate_partner,
        "record_settlement": record_settlement,
        "resolve_scan_page": resolve_scan_page,
        "echo": echo,
    }
