"""What the back office looks at after an upload: recent scans, the scanned pages of a
case (the verification task shows them), and the image crop of one read field.

Read-only. Crops come from the stored page image (``scan_page.image``); where pages are
stored without their image, ``has_image`` is false and ``field_crop`` answers NotFound.
"""

from __future__ import annotations

import io
from typing import Any

from PIL import Image
from sqlalchemy import and_, select

from ..core.errors import NotFound
from ..db.session import read_session
from ..db.tables import SCAN, SCAN_PAGE
from .context import AppContext

#: pixels around a field's box in a crop; check-box groups also keep their labels
CROP_MARGIN = 12
LABEL_WIDTH = 12.0  # a check-box group's crop is widened by this many box-column widths


def _image_column() -> Any:
    return SCAN_PAGE.c.get("image")


def recent_scans(ctx: AppContext, *, limit: int = 20) -> list[dict[str, Any]]:
    """The latest uploads, newest first."""
    query = select(SCAN).order_by(SCAN.c.created_at.desc()).limit(max(1, min(limit, 200)))
    with read_session(ctx.db) as session:
        return [dict(r) for r in session.execute(query).mappings()]


def pages_of_case(ctx: AppContext, case_id: str) -> list[dict[str, Any]]:
    """The scanned pages that went to a case, newest first, with their file's name and
    whether a crop can be shown."""
    image = _image_column()
    columns = [c for c in SCAN_PAGE.c if c.name != "image"]
    has_image = (image.is_not(None)).label("has_image") if image is not None else None
    query = (
        select(*columns, SCAN.c.filename, *([has_image] if has_image is not None else []))
        .join(SCAN, SCAN.c.id == SCAN_PAGE.c.scan_id)
        .where(SCAN_PAGE.c.case_id == case_id)
        .order_by(SCAN_PAGE.c.created_at.desc(), SCAN_PAGE.c.page_no)
    )
    with read_session(ctx.db) as session:
        rows = [dict(r) for r in session.execute(query).mappings()]
    for row in rows:
        row["has_image"] = bool(row.get("has_image"))
    return rows


def _box(field: dict[str, Any], size: tuple[int, int]) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = (int(v) for v in field["box"])
    if field.get("kind") == "checkbox_group":
        x1 += int((x1 - x0) * LABEL_WIDTH)
    width, height = size
    return (
        max(0, x0 - CROP_MARGIN),
        max(0, y0 - CROP_MARGIN),
        min(width, x1 + CROP_MARGIN),
        min(height, y1 + CROP_MARGIN),
    )


def field_crop(ctx: AppContext, scan_id: str, page_no: int, field_name: str) -> bytes:
    """The PNG crop of one read field of a stored page."""
    image = _image_column()
    if image is None:
        raise NotFound("page images are not stored")
    with read_session(ctx.db) as session:
        row = session.execute(
            select(image, SCAN_PAGE.c.fields).where(
                and_(SCAN_PAGE.c.scan_id == scan_id, SCAN_PAGE.c.page_no == page_no)
            )
        ).first()
    if row is None or row[0] is None:
        raise NotFound(f"page {page_no} of scan {scan_id} has no image")
    field = next((f for f in row[1] or [] if f.get("name") == field_name), None)
    if field is None or not field.get("box"):
        raise NotFound(f"page {page_no} of scan {scan_id} has no field '{field_name}'")
    with Image.open(io.BytesIO(bytes(row[0]))) as page:
        crop = page.crop(_box(field, page.size))
        out = io.BytesIO()
        crop.save(out, "PNG")
    return out.getvalue()
