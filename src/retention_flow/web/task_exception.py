"""The "Resolve scan exception" task as the back office sees it: titled by what happened
to the page (``services.scan_reasons``), the page image with its read fields, what the
page says about the customer and the offer (and, when the case number read names a case,
that case's customer and the offers printed on its form), and a case search to assign
the page."""

from __future__ import annotations

from typing import Any

from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.cases import reads as queries
from retention_flow.services.outreach import response_forms
from retention_flow.services.platform.context import Actor, AppContext
from retention_flow.services.scans import ocr_jobs as scan_pages
from retention_flow.services.scans import reasons as scan_reasons
from retention_flow.services.scans import review as scan_review


def exception_page(ctx: AppContext, data: dict[str, Any], facts_of: Any) -> dict[str, Any] | None:
    """For a scan exception's case (its data names the page): the page, why it is an
    exception, its image's zones and the cards' content; None for any other case.
    ``facts_of(data)``: the customer facts of a case's data (the task page's)."""
    scan_id, page_no = data.get("scan_id"), data.get("page_no")
    if not isinstance(scan_id, str) or not isinstance(page_no, int) or "reasons" not in data:
        return None
    reasons = [str(r) for r in data.get("reasons") or []]
    number = data.get("case_number_read")
    named = scan_pages.case_for(ctx, str(number)) if isinstance(number, str) else None
    named_data = cases.get_case(ctx, named[0]).data if named else {}
    read = {
        str(f.get("name")): f
        for f in data.get("fields_read") or []
        if isinstance(f, dict) and f.get("name")
    }
    return {
        "scan_id": scan_id,
        "page_no": page_no,
        "filename": str(data.get("filename") or "scanned file"),
        "reasons": reasons,
        "title": scan_reasons.task_title(reasons),
        "case_number_read": number,
        "named_case": named_data.get("case_number") if named else None,
        "facts": facts_of(named_data) if named else [],
        "ticked": ticked_offers(read.get("offer"), named[1] if named else None),
        "signed": (read.get("signature") or {}).get("value"),
        "signed_on": (read.get("signed_on") or {}).get("value"),
        "read_anything": bool(read),
        "zones": scan_review.page_zones(ctx, scan_id, page_no),
    }


def ticked_offers(field: dict[str, Any] | None, printed: list[str] | None) -> list[str]:
    """What the page's offer boxes say, in words: "box 2: Discount 20" when the printed
    offers are known (the case named on the page), else "box 2". A page read without its
    case holds the ticked boxes' positions (0 = the first box)."""
    if not field or field.get("value") in (None, "", []):
        return []
    value = field["value"]
    values = value if isinstance(value, list) else [value]
    out = []
    for v in values:
        if isinstance(v, int) and not isinstance(v, bool):
            code = printed[v] if printed and 0 <= v < len(printed) else None
            out.append(f"box {v + 1}" + (f": {response_forms.offer_title(code)}" if code else ""))
        else:
            out.append(response_forms.offer_title(str(v)))
    return out


def find_cases(ctx: AppContext, user: Actor, text: str) -> list[dict[str, Any]]:
    """Cases whose business key, customer id or name contains ``text``, for assigning a
    scanned page (the case number to type is shown with each)."""
    text = text.strip()[:100]
    if not text:
        return []
    found, _count = queries.list_cases(ctx, user, business_key=text, partial=True, limit=10)
    by_customer, _count = queries.list_cases(ctx, user, customer=text, partial=True, limit=10)
    seen: dict[str, dict[str, Any]] = {}
    for case in found + by_customer:
        data = case.data
        seen.setdefault(
            case.id,
            {
                "business_key": case.business_key,
                "case_number": data.get("case_number"),
                "customer": data.get("customer_name") or data.get("customer_id"),
                "status": case.status,
            },
        )
    return list(seen.values())[:10]
