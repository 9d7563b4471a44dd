"""One OCR job: read a stored page and route it (scan_routing writes where it ended).

``process_page`` is what every runner calls — the in-process thread pool, the worker's job
table, a Celery worker. It is idempotent: a page that is no longer ``queued`` is left as
it is, so a re-delivered job does nothing.
"""

from __future__ import annotations

import io
import logging
import os
import threading
import weakref
from collections.abc import Sequence
from typing import Any

from PIL import Image
from sqlalchemy import and_, select

from retention_flow.core import strict_json
from retention_flow.core.errors import NotFound, RetentionFlowError
from retention_flow.db.session import read_session
from retention_flow.db.tables import CASE, CASE_KEY, SCAN, SCAN_PAGE
from retention_flow.ocr import FormReader, OcrContext, PageResult
from retention_flow.services.outreach.response_forms import TEMPLATES_DIR, printed_offers
from retention_flow.services.platform.context import Actor, AppContext
from retention_flow.services.scans.outcome import deliver, open_exception

log = logging.getLogger(__name__)

OCR_CONTEXT = OcrContext(backend="auto")

_readers: weakref.WeakKeyDictionary[AppContext, FormReader] = weakref.WeakKeyDictionary()
_readers_lock = threading.Lock()


def ocr_worker_env() -> None:
    """One OpenMP thread per Tesseract call: OpenMP builds run 3-10x slower when their
    threads fight over a busy worker's cores. Effective only before libtesseract loads, so
    OCR worker entry points call it first (it is not a setting: it configures the library)."""
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")


def form_reader(ctx: AppContext) -> FormReader:
    """The context's reader, built once (templates loaded, OCR engine chosen)."""
    with _readers_lock:
        reader = _readers.get(ctx)
        if reader is None:
            reader = FormReader.from_folder(TEMPLATES_DIR, OCR_CONTEXT)
            _readers[ctx] = reader
        return reader


def case_for(ctx: AppContext, case_number: str) -> tuple[str, list[str]] | None:
    """(case id, the offers its form printed, box 1 first) of the case with this case
    number, open cases first. The offers are its letter's (what the customer ticked
    among), else the case's eligible offers (a form printed from the case data)."""
    with read_session(ctx.db) as session:
        rows = session.execute(
            select(CASE.c.id, CASE.c.status, CASE.c.data)
            .join(CASE_KEY, CASE_KEY.c.case_id == CASE.c.id)
            .where(CASE_KEY.c.key == "case_number", CASE_KEY.c.value == case_number)
            .order_by(CASE.c.created_at.desc())
        ).all()
    if not rows:
        return None
    row = next((r for r in rows if r.status in ("active", "incident")), rows[0])
    printed = printed_offers(ctx, str(row.id))
    offers = printed if printed is not None else (row.data or {}).get("eligible_offers") or []
    return str(row.id), [str(o) for o in offers]


def load_page(
    ctx: AppContext, scan_id: str, page_no: int, *, image: bool = False
) -> dict[str, Any]:
    """One page row with its scan's uploader and file name (and its image if asked)."""
    columns = [c for c in SCAN_PAGE.c if c.name != "image" or image]
    with read_session(ctx.db) as session:
        row = (
            session.execute(
                select(*columns, SCAN.c.uploaded_by, SCAN.c.filename)
                .join(SCAN, SCAN.c.id == SCAN_PAGE.c.scan_id)
                .where(and_(SCAN_PAGE.c.scan_id == scan_id, SCAN_PAGE.c.page_no == page_no))
            )
            .mappings()
            .first()
        )
    if row is None:
        raise NotFound(f"page {page_no} of scan {scan_id} not found")
    return dict(row)


def read(reader: FormReader, image: Image.Image, lookup: Any, index: int) -> PageResult:
    try:
        return reader.read_page(image, lookup, index=index)
    except RetentionFlowError as exc:
        return PageResult(page=index, status="exception", reasons=[exc.detail])
    except Exception:  # one bad page must not stop the file
        log.exception("page %d could not be read", index)
        return PageResult(
            page=index,
            status="exception",
            reasons=["the page could not be read (an internal error, logged for the admins)"],
        )


def process_page(
    ctx: AppContext, scan_id: str, page_no: int, image: Image.Image | None = None
) -> str:
    """Read page ``page_no`` (1-based) of a scan and route it; returns where it ended.

    ``image`` is the page already in memory (the uploading process has it): then the
    stored copy is not decoded again."""
    page = load_page(ctx, scan_id, page_no, image=image is None)
    if page["status"] != "queued":
        return str(page["status"])
    actor = Actor(page["uploaded_by"], frozenset({"back_office"}))
    found: dict[str, tuple[str, list[str]] | None] = {}

    def lookup(case_number: str) -> Sequence[str] | None:
        if case_number not in found:
            found[case_number] = case_for(ctx, case_number)
        hit = found[case_number]
        return None if hit is None else hit[1]

    if image is None and page["image"] is not None:
        image = Image.open(io.BytesIO(page["image"]))
    if image is None:
        result = PageResult(page=page_no - 1, status="exception", reasons=["no page image"])
    else:
        result = read(form_reader(ctx), image, lookup, page_no - 1)
    hit = found.get(result.case_number) if result.case_number else None
    values: dict[str, Any] = {
        "status": result.status,
        "reasons": list(result.reasons),
        "case_number": result.case_number,
        "case_id": hit[0] if hit else None,
        "fields": [f.model_dump(mode="json") for f in result.fields],
        "registration": (
            strict_json.scrub(result.registration.model_dump())[0] if result.registration else None
        ),
        "template_id": result.template_id,
    }
    values["fields"], bad = strict_json.scrub(values["fields"], "fields")
    if bad:  # a reading that is not interoperable JSON is stored as null, never routed
        values["status"] = "exception"
        values["reasons"].append(f"unreadable value: {bad[0]['field']}: {bad[0]['message']}")
    if values["status"] != "exception" and not result.case_number:
        values["reasons"].append("the case number could not be read")
    elif values["status"] != "exception" and result.case_number:
        payload = {
            **strict_json.scrub(result.message)[0],
            "uncertain": result.status != "processed",
            "scan_id": scan_id,
            "page_no": page_no,
        }
        try:
            deliver(ctx, actor, scan_id, page_no, result.case_number, payload, values)
            return _status(ctx, scan_id, page_no)
        except RetentionFlowError as exc:
            values["reasons"].append(f"the case did not take the form: {exc.detail}")
    open_exception(
        ctx,
        scan_id,
        page_no,
        values,
        exception_data(scan_id, page_no, page["filename"], values),
        key=f"scan-exception:{scan_id}:{page_no}",
    )
    return _status(ctx, scan_id, page_no)


def exception_data(
    scan_id: str, page_no: int, filename: str, values: dict[str, Any]
) -> dict[str, Any]:
    """The exception case's data: what the back office needs to resolve the page."""
    return {
        "scan_id": scan_id,
        "page_no": page_no,
        "filename": filename,
        "reasons": list(values.get("reasons") or []),
        "case_number_read": values.get("case_number"),
        "image_url": f"/api/scans/{scan_id}/pages/{page_no}/image",
        "fields_read": [
            {k: f.get(k) for k in ("name", "value", "confidence", "status")}
            for f in values.get("fields") or []
        ],
    }


def _status(ctx: AppContext, scan_id: str, page_no: int) -> str:
    with read_session(ctx.db) as session:
        return str(
            session.execute(
                select(SCAN_PAGE.c.status).where(
                    and_(SCAN_PAGE.c.scan_id == scan_id, SCAN_PAGE.c.page_no == page_no)
                )
            ).scalar_one()
        )
