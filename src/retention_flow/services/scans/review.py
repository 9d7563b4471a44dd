"""What the back office looks at after an upload: recent scans, and the scanned pages of
a case (its verification task shows them; the crops are ``scans.field_crop``'s). Read-only.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any

from PIL import Image
from sqlalchemy import and_, select

from retention_flow.core.errors import NotFound
from retention_flow.db.session import read_session
from retention_flow.db.tables import CASE, SCAN, SCAN_PAGE
from retention_flow.services.platform import readable
from retention_flow.services.platform.context import AppContext
from retention_flow.services.scans import reasons as scan_reasons
from retention_flow.services.scans.outcome import EXCEPTION_PROCESS
from retention_flow.services.scans.views import (
    CasePageView,
    PageStatus,
    PageZones,
    RecentScanView,
    Zone,
)


def recent_scans(ctx: AppContext, *, limit: int = 20) -> list[RecentScanView]:
    """The latest uploads, newest first, each with its pages' statuses (``pages``: one
    ``{"status"}`` per page, so a list shows the same badge as the scan's own page)."""
    query = select(SCAN).order_by(SCAN.c.created_at.desc()).limit(max(1, min(limit, 200)))
    with read_session(ctx.db) as session:
        scans = [dict(r) for r in session.execute(query).mappings()]
        ids = [s["id"] for s in scans]
        statuses = session.execute(
            select(SCAN_PAGE.c.scan_id, SCAN_PAGE.c.status).where(SCAN_PAGE.c.scan_id.in_(ids))
        ).all()
    by_scan: dict[str, list[PageStatus]] = {i: [] for i in ids}
    for scan_id, status in statuses:
        by_scan[scan_id].append(PageStatus(status=status))
    return [RecentScanView.of(s, pages=by_scan[s["id"]]) for s in scans]


def exception_titles(ctx: AppContext, case_ids: Iterable[str]) -> dict[str, dict[str, str]]:
    """For the scan-exception cases among ``case_ids``: what a task list shows instead
    of the case's id — ``title`` (what happened to the page) and ``label`` (the file and
    page)."""
    ids = list(dict.fromkeys(case_ids))
    if not ids:
        return {}
    query = select(CASE.c.id, CASE.c.data).where(
        and_(CASE.c.id.in_(ids), CASE.c.process_id == EXCEPTION_PROCESS)
    )
    with read_session(ctx.db) as session:
        rows = session.execute(query).all()
    out = {}
    for case_id, raw in rows:
        data = readable.as_object(raw)
        out[str(case_id)] = {
            "title": scan_reasons.task_title(readable.names(data.get("reasons"))),
            "label": f"{data.get('filename') or 'scanned file'}, page {data.get('page_no')}",
        }
    return out


def pages_of_case(ctx: AppContext, case_id: str) -> list[CasePageView]:
    """The scanned pages that went to a case, newest first, with their file's name and
    whether their image is stored (so crops can be shown)."""
    columns = [c for c in SCAN_PAGE.c if c.name not in ("image", "registration")]
    has_image = SCAN_PAGE.c.image.is_not(None).label("has_image")
    query = (
        select(*columns, SCAN.c.filename, has_image)
        .join(SCAN, SCAN.c.id == SCAN_PAGE.c.scan_id)
        .where(SCAN_PAGE.c.case_id == case_id)
        .order_by(SCAN_PAGE.c.created_at.desc(), SCAN_PAGE.c.page_no)
    )
    with read_session(ctx.db) as session:
        rows = list(session.execute(query).mappings())
    return [  # of the shapes the pages expect, whatever is stored
        CasePageView.of(
            row,
            fields=[f for f in readable.objects(row["fields"]) if isinstance(f.get("name"), str)],
            reasons=readable.names(row["reasons"]),
            has_image=bool(row["has_image"]),
        )
        for row in rows
    ]


#: the page image as the pages show it: at most this wide (the zones scale with it)
PAGE_IMAGE_WIDTH = 1000


def _page_row(ctx: AppContext, scan_id: str, page_no: int) -> dict[str, Any]:
    query = select(SCAN_PAGE.c.image, SCAN_PAGE.c.registration, SCAN_PAGE.c.fields).where(
        and_(SCAN_PAGE.c.scan_id == scan_id, SCAN_PAGE.c.page_no == page_no)
    )
    with read_session(ctx.db) as session:
        row = session.execute(query).mappings().first()
    if row is None or row["image"] is None:
        raise NotFound(f"page {page_no} of scan {scan_id} has no image")
    return dict(row)


def _upright(row: dict[str, Any]) -> Image.Image:
    image: Image.Image = Image.open(io.BytesIO(bytes(row["image"])))
    if readable.as_object(row["registration"]).get("upside_down"):
        image = image.rotate(180)
    return image


def page_image(ctx: AppContext, scan_id: str, page_no: int) -> bytes:
    """The page upright (the field boxes are on the upright page), scaled down to
    ``PAGE_IMAGE_WIDTH``, as PNG."""
    image = _upright(_page_row(ctx, scan_id, page_no))
    if image.width > PAGE_IMAGE_WIDTH:
        height = max(1, round(image.height * PAGE_IMAGE_WIDTH / image.width))
        image = image.resize((PAGE_IMAGE_WIDTH, height))
    if image.mode not in ("1", "L", "RGB", "RGBA"):
        image = image.convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


def page_zones(ctx: AppContext, scan_id: str, page_no: int) -> PageZones | None:
    """The page's size and each read field's box on it (in the upright page's pixels),
    with what was read and how sure: what the page image is drawn with. None when the
    page has no stored image."""
    try:
        row = _page_row(ctx, scan_id, page_no)
    except NotFound:
        return None
    width, height = Image.open(io.BytesIO(bytes(row["image"]))).size  # header only
    zones = [
        Zone(
            name=f["name"],
            kind=_text(f.get("kind")),
            box=[int(v) for v in f["box"]],
            status=str(f.get("status") or "ok"),
            value=f.get("value"),
            reason=_text(f.get("reason")),
        )
        for f in readable.objects(row["fields"])
        if isinstance(f.get("name"), str) and readable.is_box(f.get("box"))
    ]
    return PageZones(width=width, height=height, zones=zones)


def _text(value: Any) -> str | None:
    """A stored field's text attribute (anything else stored reads as its text)."""
    return None if value is None else str(value)
