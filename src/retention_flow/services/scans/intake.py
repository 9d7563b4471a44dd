"""Scan intake: claim an uploaded file by its content hash, queue its pages, answer.

``ingest_files`` takes the files of one upload (``ingest`` one file). They are all decoded
first, each in a decoder child process within the scan limits (scan_decode.py): if any
file is over a limit (pages, pixels, embedded images, drawing work, time, memory) the
upload is refused with every such file named and nothing is stored; a file that is not an
image or PDF we can read (zero bytes, truncated, encrypted) is stored as an ``unreadable``
scan with the reason. Then, per file, in ONE transaction, the scan
row (unique on ``sha256``) and one ``queued`` row per page with the page image are
written: the same bytes uploaded again — also concurrently — answer the stored scan and
never send a second message; nothing is ever half-stored.

Each page is then an OCR job (services/scans/ocr_jobs.py ``process_page``, idempotent), run by
``scan_dispatch``: in this process by default (the answer then shows where every page
ended), as worker jobs with ``scan_async``, or on Celery workers when a broker is set.
A scan whose pages are still queued (its processing crashed, or it is being processed
elsewhere) is resumed when the same file is uploaded again.

Where a page ends (scan_routing): processed / verification → ``response_form_received``
correlated to its case; exception → a back-office exception task (scan_exceptions).
"""

from __future__ import annotations

import hashlib
import io
import uuid

from PIL import Image
from sqlalchemy import and_, select
from sqlalchemy.exc import IntegrityError

from retention_flow.core.errors import NotFound
from retention_flow.db.session import read_session, write_session
from retention_flow.db.tables import JOB, SCAN, SCAN_PAGE
from retention_flow.services.outreach.response_forms import TEMPLATES_DIR
from retention_flow.services.platform import readable
from retention_flow.services.platform.context import Actor, AppContext
from retention_flow.services.scans import decode as scan_decode
from retention_flow.services.scans import dispatch as scan_dispatch
from retention_flow.services.scans.dispatch import page_job
from retention_flow.services.scans.ocr_jobs import form_reader, load_page
from retention_flow.services.scans.outcome import MESSAGE
from retention_flow.services.scans.views import ScanPageView, ScanView

__all__ = [
    "MESSAGE",
    "TEMPLATES_DIR",
    "field_crop",
    "get_scan",
    "ingest",
    "ingest_files",
    "page_image",
    "read_upload",
    "store_upload",
]


def ingest(ctx: AppContext, actor: Actor, filename: str, data: bytes) -> ScanView:
    """Store one file's pages and have them read and routed; the same content answers the
    same scan (and finishes it, if its processing was interrupted). A file over a scan
    limit raises ``ScanLimitExceeded`` and stores nothing."""
    return ingest_files(ctx, actor, [(filename, data)])[0]


def ingest_files(ctx: AppContext, actor: Actor, files: list[tuple[str, bytes]]) -> list[ScanView]:
    """One upload of many files: all are decoded first (``read_upload``), then stored
    (``store_upload``); if any is over a limit nothing is stored."""
    return store_upload(ctx, actor, read_upload(ctx, files))


def read_upload(ctx: AppContext, files: list[tuple[str, bytes]]) -> list[scan_decode.ReadFile]:
    """Decode the files of one upload (scan_decode: the limits, a decoder child per file,
    the bytes of scans already stored are not decoded again); ``ScanLimitExceeded`` names
    every file over a limit. Stores nothing: the API runs this off its request threads."""
    known = {}
    for _name, data in files:
        digest = hashlib.sha256(data).hexdigest()
        found = _scan_id(ctx, digest)
        if found is not None:
            known[digest] = found
    return scan_decode.read_files(ctx, files, known)


def store_upload(ctx: AppContext, actor: Actor, read: list[scan_decode.ReadFile]) -> list[ScanView]:
    """Store each decoded file (its scan and pages in one transaction) and dispatch its
    pages, in order; the answer per file."""
    if scan_dispatch.mode(ctx) == "inline" and any(r.pages for r in read):
        form_reader(ctx)  # OcrUnavailable before anything is stored: the upload may be retried
    return [_store(ctx, actor, one) for one in read]


def _store(ctx: AppContext, actor: Actor, read: scan_decode.ReadFile) -> ScanView:
    known = _scan_id(ctx, read.digest)  # stored before, or earlier in this upload
    if known is not None:
        return _resume(ctx, known)
    if read.error is not None:
        return _store_unreadable(ctx, actor, read.digest, read.filename, read.error)
    pages = [page.png for page in read.pages]
    scan_id = _claim(ctx, actor, read.digest, read.filename, pages)
    if scan_id is None:  # someone else stored these bytes meanwhile
        return _resume(ctx, _stored_id(ctx, read.digest))
    count = len(pages)
    read.pages = []  # the PNGs are stored: let them go before the pages are read
    del pages
    scan_dispatch.dispatch(ctx, scan_id, list(range(1, count + 1)))
    return get_scan(ctx, scan_id)


def _resume(ctx: AppContext, scan_id: str) -> ScanView:
    with read_session(ctx.db) as session:
        queued = list(
            session.execute(
                select(SCAN_PAGE.c.page_no)
                .where(and_(SCAN_PAGE.c.scan_id == scan_id, SCAN_PAGE.c.status == "queued"))
                .order_by(SCAN_PAGE.c.page_no)
            ).scalars()
        )
    if queued:
        scan_dispatch.dispatch(ctx, scan_id, queued, resumed=True)
    return get_scan(ctx, scan_id)


def _claim(
    ctx: AppContext,
    actor: Actor,
    digest: str,
    filename: str,
    pages: list[bytes],
    error: str | None = None,
) -> str | None:
    """The scan row and its queued pages (and their jobs, in worker mode) in one commit;
    with ``error``, the scan of an unreadable file (no pages)."""
    scan_id = str(uuid.uuid4())
    now = ctx.now()
    try:
        with write_session(ctx.db) as session:
            session.execute(
                SCAN.insert().values(
                    id=scan_id,
                    sha256=digest,
                    filename=filename,
                    uploaded_by=actor.username,
                    created_at=now,
                    page_count=len(pages),
                    status="unreadable" if error is not None else "reading",
                    error=error,
                )
            )
            if pages:
                session.execute(
                    SCAN_PAGE.insert(),
                    [
                        {
                            "scan_id": scan_id,
                            "page_no": no,
                            "status": "queued",
                            "reasons": [],
                            "fields": [],
                            "created_at": now,
                            "image": image,
                        }
                        for no, image in enumerate(pages, start=1)
                    ],
                )
            if scan_dispatch.mode(ctx) == "worker" and pages:
                session.execute(
                    JOB.insert(),
                    [
                        page_job(scan_id, no, now, ctx.settings.scan_job_attempts)
                        for no in range(1, len(pages) + 1)
                    ],
                )
            session.commit()
    except IntegrityError:
        return None
    return scan_id


def _store_unreadable(
    ctx: AppContext, actor: Actor, digest: str, filename: str, reason: str
) -> ScanView:
    _claim(ctx, actor, digest, filename, [], error=reason)
    return get_scan(ctx, _stored_id(ctx, digest))


# --------------------------------------------------------------------------- read


def _scan_id(ctx: AppContext, digest: str) -> str | None:
    with read_session(ctx.db) as session:
        found = session.execute(
            select(SCAN.c.id).where(SCAN.c.sha256 == digest)
        ).scalar_one_or_none()
    return None if found is None else str(found)


def _stored_id(ctx: AppContext, digest: str) -> str:
    found = _scan_id(ctx, digest)
    if found is None:
        raise NotFound(f"no scan with content hash {digest}")
    return found


_PAGE_COLUMNS = [c for c in SCAN_PAGE.c if c.name not in ("scan_id", "image", "registration")]


def get_scan(ctx: AppContext, scan_id: str) -> ScanView:
    with read_session(ctx.db) as session:
        scan = session.execute(select(SCAN).where(SCAN.c.id == scan_id)).mappings().first()
        if scan is None:
            raise NotFound(f"scan {scan_id} not found")
        pages = session.execute(
            select(*_PAGE_COLUMNS)
            .where(SCAN_PAGE.c.scan_id == scan_id)
            .order_by(SCAN_PAGE.c.page_no)
        ).mappings()
        shown = [
            ScanPageView(
                page_no=p["page_no"],
                status=p["status"],
                reasons=readable.names(p["reasons"]),
                case_number=p["case_number"],
                case_id=p["case_id"],
                template_id=p["template_id"],
                fields=readable.objects(p["fields"]),
                created_at=p["created_at"],
                image_url=f"/api/scans/{scan_id}/pages/{p['page_no']}/image",
                exception_case_id=p["exception_case_id"],
                resolution=p["resolution"],
                resolved_by=p["resolved_by"],
            )
            for p in pages
        ]
        return ScanView(
            id=scan["id"],
            sha256=scan["sha256"],
            filename=scan["filename"],
            uploaded_by=scan["uploaded_by"],
            created_at=scan["created_at"],
            page_count=scan["page_count"],
            status=scan["status"],
            error=scan["error"],
            pages=shown,
        )


def page_image(ctx: AppContext, scan_id: str, page_no: int) -> bytes:
    """The stored page image (PNG)."""
    with read_session(ctx.db) as session:
        image = session.execute(
            select(SCAN_PAGE.c.image).where(
                and_(SCAN_PAGE.c.scan_id == scan_id, SCAN_PAGE.c.page_no == page_no)
            )
        ).scalar_one_or_none()
    if image is None:
        raise NotFound(f"page {page_no} of scan {scan_id} has no image")
    return bytes(image)


CROP_MARGIN_PX = 12


def field_crop(ctx: AppContext, scan_id: str, page_no: int, field: str) -> bytes:
    """The crop of one read field (PNG), as the verifying back office sees it beside the
    value read: the field's box on the upright page, with a small margin."""
    page = load_page(ctx, scan_id, page_no, image=True)
    fields = readable.objects(page["fields"])
    box = next((f.get("box") for f in fields if f.get("name") == field), None)
    if not readable.is_box(box) or page["image"] is None:
        raise NotFound(f"page {page_no} of scan {scan_id} has no crop of field '{field}'")
    image: Image.Image = Image.open(io.BytesIO(page["image"]))
    if readable.as_object(page["registration"]).get("upside_down"):
        image = image.rotate(180)
    x0, y0, x1, y1 = (int(v) for v in box)
    m = CROP_MARGIN_PX
    crop = image.crop((max(0, x0 - m), max(0, y0 - m), x1 + m, y1 + m))
    buffer = io.BytesIO()
    crop.save(buffer, "PNG")
    return buffer.getvalue()
