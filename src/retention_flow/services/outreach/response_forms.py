"""Printable response forms for cases: what the letter shows, and its PDF.

The mail channel's *Send response form* letter stores a ``document`` (template id and
version, customer, case number, offers) when it is queued; the PDF is rendered from that
document, so printing it again gives the same bytes the customer was sent. A case whose
letter has no document yet (queued before this existed) is printed from its case data.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from retention_flow.core.errors import NotFound, RetentionFlowError, ValidationFailed
from retention_flow.db.session import read_session
from retention_flow.db.tables import CASE, CUSTOMER, LETTER
from retention_flow.ocr import FormData, FormTemplate, Offer, load_template, render_pdf
from retention_flow.services.platform.context import AppContext

#: the shipped templates (repository root / ocr_templates)
TEMPLATES_DIR = Path(__file__).resolve().parents[4] / "ocr_templates"
RESPONSE_FORM = "retention_offer_v1"
#: letter kinds that carry the response form
FORM_LETTERS = frozenset({"response_form", "reminder"})
#: how each offer reads on the form (an unknown code reads as its words)
OFFER_TITLES = {
    "NEW_DEVICE": "New device",
    "DISCOUNT_20": "20 % off the monthly fee for 12 months",
    "UPGRADE_DATA": "Double data volume at the same price",
    "DISCOUNT_10": "10 % off the monthly fee for 12 months",
    "LOYALTY_BONUS": "Loyalty bonus",
}

_templates: dict[str, FormTemplate] = {}
_templates_lock = threading.Lock()


def template(template_id: str = RESPONSE_FORM) -> FormTemplate:
    """A shipped template, loaded (and validated) once per process."""
    with _templates_lock:
        found = _templates.get(template_id)
        if found is None:
            found = load_template(TEMPLATES_DIR / template_id)
            _templates[template_id] = found
        return found


def form_title(template_id: str | None) -> str:
    """A response-form template as people know it: its printed title and version."""
    if not template_id:
        return "—"
    try:
        form = template(template_id)
    except (OSError, RetentionFlowError):  # not installed (any more): its id is all we have
        return template_id
    return f"{form.title} (v{form.version})"


def offer_title(code: str) -> str:
    return OFFER_TITLES.get(code, code.replace("_", " ").capitalize())


def form_document(
    data: Mapping[str, Any], offer_codes: list[str], created: datetime
) -> dict[str, Any]:
    """What the response form of a case shows (JSON, stored with its letter)."""
    form = template()
    address = data.get("address_lines") or []
    return {
        "template": form.id,
        "version": form.version,
        "created": created.isoformat(),
        "case_number": str(data.get("case_number") or ""),
        "customer_name": str(data.get("customer_name") or data.get("customer_id") or ""),
        "address_lines": [str(line) for line in address][:4],
        "offers": [{"code": str(c), "title": offer_title(str(c))} for c in offer_codes],
    }


def render_document(document: Mapping[str, Any]) -> bytes:
    """The PDF of a stored form document (the same bytes for the same document)."""
    form = template(str(document.get("template") or RESPONSE_FORM))
    if int(document.get("version") or form.version) != form.version:
        raise ValidationFailed(
            f"the letter was printed with {form.id} v{document.get('version')}, "
            f"but v{form.version} is installed"
        )
    data = FormData(
        case_number=str(document["case_number"]),
        customer_name=str(document["customer_name"]),
        address_lines=tuple(document.get("address_lines") or ()),
        offers=tuple(Offer(o["code"], o["title"]) for o in document.get("offers") or ()),
        extra=(
            {"self_service_url": str(document["self_service_url"])}
            if document.get("self_service_url")
            else {}
        ),
    )
    created = document.get("created")
    try:
        return render_pdf(form, data, datetime.fromisoformat(created) if created else None)
    except ValueError as exc:  # a case number or offer list the form cannot carry
        raise ValidationFailed(f"the form cannot be printed: {exc}") from exc


def _form_letter(session: Session, case_id: str) -> Any:
    """The document of the case's first letter that carried the response form, or None."""
    return session.execute(
        select(LETTER.c.document)
        .where(and_(LETTER.c.case_id == case_id, LETTER.c.kind.in_(FORM_LETTERS)))
        .order_by(LETTER.c.created_at)
        .limit(1)
    ).scalar_one_or_none()


def printed_offers(ctx: AppContext, case_id: str) -> list[str] | None:
    """The offer codes printed on the case's response form, in their printed order (box 1
    first), from the document its first form letter was sent with; None without one."""
    with read_session(ctx.db) as session:
        document = _form_letter(session, case_id)
    if not isinstance(document, Mapping) or not isinstance(document.get("offers"), list):
        return None
    codes = [o.get("code") for o in document["offers"] if isinstance(o, Mapping)]
    return [c for c in codes if isinstance(c, str)]


def case_form(ctx: AppContext, case_ref: str) -> tuple[dict[str, Any], bytes]:
    """(document, PDF) of the response form for a case, by id or business key: the one its
    letter was sent with, else one made from the case's eligible offers (its DMN result)."""
    with read_session(ctx.db) as session:
        case = (
            session.execute(
                select(CASE.c.id, CASE.c.data, CASE.c.created_at).where(
                    or_(CASE.c.id == case_ref, CASE.c.business_key == case_ref)
                )
            )
            .mappings()
            .first()
        )
        if case is None:
            raise NotFound(f"case {case_ref} not found")
        letter = _form_letter(session, case["id"])
        data = dict(case["data"] or {})
        if letter is None and "customer_name" not in data and data.get("customer_id"):
            name = session.execute(
                select(CUSTOMER.c.name).where(CUSTOMER.c.id == str(data["customer_id"]))
            ).scalar_one_or_none()
            data["customer_name"] = name
    if letter is not None:
        document = dict(letter)
    else:
        offers = data.get("eligible_offers") or []
        if not offers:
            raise ValidationFailed(f"case {case_ref} has no eligible offers (yet) to print")
        if not data.get("case_number"):
            raise ValidationFailed(f"case {case_ref} has no case number")
        document = form_document(data, [str(o) for o in offers], case["created_at"])
    return document, render_document(document)
