"""What the back office looks at after an upload: recent scans, and the scanned pages of
a case (its verification task shows them; the crops are ``scans.field_crop``'s). Read-only.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ..db.session import read_session
from ..db.tables import SCAN, SCAN_PAGE
from . import readable
from .context import AppContext


def recent_scans(ctx: AppContext, *, limit: int = 20) -> list[dict[str, Any]]:
    """The latest uploads, newest first."""
    query = select(SCAN).order_by(SCAN.c.created_at.desc()).limit(max(1, min(limit, 200)))
    with read_session(ctx.db) as session:
        return [dict(r) for r in session.execute(query).mappings()]


def pages_of_case(ctx: AppContext, case_id: str) -> list[dict[str, Any]]:
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
        rows = [dict(r) for r in session.execute(query).mappings()]
    for row in rows:  # of the shapes the pages expect, whatever is stored
        row["fields"] = [
            f for f in readable.objects(row["fields"]) if isinstance(f.get("name"), str)
        ]
        row["reasons"] = readable.names(row["reasons"])
    return rows
