"""The typed answers of scan intake and review: a scan and its pages as the back office
and the API see them (never the page image or its registration), the recent uploads, a
case's scanned pages and a page's read zones. The API's scan schemas are these."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from retention_flow.services.platform.view import View


class ScanPageView(View):
    page_no: int
    status: str  # queued | processed | verification | exception
    reasons: list[str]
    case_number: str | None
    case_id: str | None
    template_id: str | None = Field(
        default=None, description="the response-form template the page was read as"
    )
    fields: list[dict[str, Any]]
    created_at: datetime
    image_url: str
    #: an exception page: its back-office exception case, and how it was resolved
    exception_case_id: str | None = None
    resolution: str | None = None  # assigning | assigned | discarded
    resolved_by: str | None = None


class ScanView(View):
    id: str
    sha256: str
    filename: str
    uploaded_by: str
    created_at: datetime
    page_count: int
    status: str  # reading | read | unreadable
    error: str | None
    pages: list[ScanPageView]


class PageStatus(View):
    status: str


class RecentScanView(View):
    """An upload in the recent list: the scan with one status per page (so a list shows
    the same badge as the scan's own page)."""

    id: str
    sha256: str
    filename: str
    uploaded_by: str
    created_at: datetime
    page_count: int
    status: str
    error: str | None
    pages: list[PageStatus]


class CasePageView(View):
    """A scanned page that went to a case, with its file's name and whether its image is
    stored (so crops can be shown); ``fields`` only those with a name."""

    scan_id: str
    page_no: int
    status: str
    reasons: list[str]
    case_number: str | None
    case_id: str | None
    fields: list[dict[str, Any]]
    created_at: datetime
    template_id: str | None
    exception_case_id: str | None
    resolution: str | None
    resolved_by: str | None
    filename: str
    has_image: bool


class Zone(View):
    """A read field's box on the upright page (pixels), what was read and how sure."""

    name: str
    kind: str | None
    box: list[int]
    status: str
    value: Any
    reason: str | None


class PageZones(View):
    """The upright page's size and its read fields' zones: what its image is drawn with."""

    width: int
    height: int
    zones: list[Zone]


__all__ = [
    "CasePageView",
    "PageStatus",
    "PageZones",
    "RecentScanView",
    "ScanPageView",
    "ScanView",
    "Zone",
]
