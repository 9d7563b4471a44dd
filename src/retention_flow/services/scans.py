"""Scan intake: read uploaded response forms and route every page.

``ingest`` takes one file. Its content hash is claimed first (a committed ``scan`` row,
unique on ``sha256``), so the same bytes uploaded again — also concurrently — answer the
stored scan and never send a second message. Each page then goes where the OCR routed it:

* processed / verification → ``response_form_received`` correlated to the waiting case by
  ``case_number`` (verification with ``uncertain: true``, so the mail process opens its
  back-office *Verify response form* task). Each correlation is its own case step.
* exception, or a correlation that fails (no open case, case not waiting) → the page is
  stored as exception with the reason.

The pages and the scan's final status are written in one transaction. A file that is not
an image or PDF we can read (zero bytes, truncated, garbage...) is stored as an
``unreadable`` scan with the reason; it needs no OCR engine.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from ..core.errors import NotFound, RetentionFlowError
from ..db.session import read_session, write_session
from ..db.tables import CASE, CASE_KEY, SCAN, SCAN_PAGE
from ..ocr import FormReader, OcrContext, PageResult, UnreadableInput
from ..ocr.pages import load_pages
from . import cases
from .context import Actor, AppContext

MESSAGE = "response_form_received"
#: the shipped templates (repository root / ocr_templates)
TEMPLATES_DIR = Path(__file__).resolve().parents[3] / "ocr_templates"
OCR_CONTEXT = OcrContext(backend="auto")

_readers: weakref.WeakKeyDictionary[AppContext, FormReader] = weakref.WeakKeyDictionary()
_readers_lock = threading.Lock()


def form_reader(ctx: AppContext) -> FormReader:
    """The context's reader, built once (templates loaded, OCR engine chosen)."""
    with _readers_lock:
        reader = _readers.get(ctx)
        if reader is None:
            reader = FormReader.from_folder(TEMPLATES_DIR, OCR_CONTEXT)
            _readers[ctx] = reader
        return reader


# --------------------------------------------------------------------------- lookup


def _case_for(ctx: AppContext, case_number: str) -> tuple[str, list[str]] | None:
    """(case id, eligible offers) of the case with this case number; open cases first."""
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
    offers = (row.data or {}).get("eligible_offers") or []
    return str(row.id), [str(o) for o in offers]


# --------------------------------------------------------------------------- ingest


def ingest(ctx: AppContext, actor: Actor, filename: str, data: bytes) -> dict[str, Any]:
    """Read one file and route its pages; the same content answers the same scan."""
    digest = hashlib.sha256(data).hexdigest()
    known = _by_hash(ctx, digest)
    if known is not None:
        return known
    filename = (filename or "(unnamed)")[:300]
    try:
        images = load_pages(
            data,
            dpi=OCR_CONTEXT.pdf_dpi,
            max_pages=OCR_CONTEXT.max_pages,
            max_pixels=OCR_CONTEXT.max_pixels,
        )
    except UnreadableInput as exc:
        return _store_unreadable(ctx, actor, digest, filename, exc.detail)
    reader = form_reader(ctx)  # OcrUnavailable: nothing stored, the upload may be retried
    found: dict[str, tuple[str, list[str]] | None] = {}

    def lookup(case_number: str) -> Sequence[str] | None:
        if case_number not in found:
            found[case_number] = _case_for(ctx, case_number)
        hit = found[case_number]
        return None if hit is None else hit[1]

    results = [_read(reader, image, lookup, i) for i, image in enumerate(images)]
    scan_id = _claim(ctx, actor, digest, filename, len(results))
    if scan_id is None:  # someone else stored these bytes meanwhile
        return _stored(ctx, digest)
    pages = [_route(ctx, actor, page, found) for page in results]
    now = ctx.now()
    with write_session(ctx.db) as session:
        if pages:
            session.execute(
                SCAN_PAGE.insert(), [{"scan_id": scan_id, "created_at": now, **p} for p in pages]
            )
        session.execute(update(SCAN).where(SCAN.c.id == scan_id).values(status="read"))
        session.commit()
    return get_scan(ctx, scan_id)


def _read(reader: FormReader, image: Image.Image, lookup: Any, index: int) -> PageResult:
    try:
        return reader.read_page(image, lookup, index=index)
    except RetentionFlowError as exc:
        return PageResult(page=index, status="exception", reasons=[exc.detail])
    except Exception as exc:  # one bad page must not stop the file
        return PageResult(
            page=index, status="exception", reasons=[f"page could not be read: {exc}"]
        )


def _route(
    ctx: AppContext,
    actor: Actor,
    page: PageResult,
    found: dict[str, tuple[str, list[str]] | None],
) -> dict[str, Any]:
    hit = found.get(page.case_number) if page.case_number else None
    row: dict[str, Any] = {
        "page_no": page.page + 1,
        "status": page.status,
        "reasons": list(page.reasons),
        "case_number": page.case_number,
        "case_id": hit[0] if hit else None,
        "fields": [f.model_dump(mode="json") for f in page.fields],
    }
    if page.status == "exception":
        return row
    if not page.case_number:
        row["status"] = "exception"
        row["reasons"].append("no readable case number")
        return row
    payload = {**page.message, "uncertain": page.status != "processed"}
    try:
        view = cases.correlate_message(
            ctx, actor, MESSAGE, {"case_number": page.case_number}, payload
        )
    except RetentionFlowError as exc:
        row["status"] = "exception"
        row["reasons"].append(f"not correlated: {exc.detail}")
        return row
    row["case_id"] = view.get("id", row["case_id"])
    return row


def _claim(
    ctx: AppContext, actor: Actor, digest: str, filename: str, page_count: int
) -> str | None:
    scan_id = str(uuid.uuid4())
    try:
        with write_session(ctx.db) as session:
            session.execute(
                SCAN.insert().values(
                    id=scan_id,
                    sha256=digest,
                    filename=filename,
                    uploaded_by=actor.username,
                    created_at=ctx.now(),
                    page_count=page_count,
                    status="reading",
                    error=None,
                )
            )
            session.commit()
    except IntegrityError:
        return None
    return scan_id


def _store_unreadable(
    ctx: AppContext, actor: Actor, digest: str, filename: str, reason: str
) -> dict[str, Any]:
    scan_id = _claim(ctx, actor, digest, filename, 0)
    if scan_id is not None:
        with write_session(ctx.db) as session:
            session.execute(
                update(SCAN).where(SCAN.c.id == scan_id).values(status="unreadable", error=reason)
            )
            session.commit()
    return _stored(ctx, digest)


# --------------------------------------------------------------------------- read


def _by_hash(ctx: AppContext, digest: str) -> dict[str, Any] | None:
    with read_session(ctx.db) as session:
        scan_id = session.execute(
            select(SCAN.c.id).where(SCAN.c.sha256 == digest)
        ).scalar_one_or_none()
    return None if scan_id is None else get_scan(ctx, str(scan_id))


def _stored(ctx: AppContext, digest: str) -> dict[str, Any]:
    stored = _by_hash(ctx, digest)
    if stored is None:
        raise NotFound(f"no scan with content hash {digest}")
    return stored


def get_scan(ctx: AppContext, scan_id: str) -> dict[str, Any]:
    with read_session(ctx.db) as session:
        scan = session.execute(select(SCAN).where(SCAN.c.id == scan_id)).mappings().first()
        if scan is None:
            raise NotFound(f"scan {scan_id} not found")
        pages = session.execute(
            select(SCAN_PAGE).where(SCAN_PAGE.c.scan_id == scan_id).order_by(SCAN_PAGE.c.page_no)
        ).mappings()
        out = dict(scan)
        out["pages"] = [{k: v for k, v in p.items() if k != "scan_id"} for p in pages]
    return out
