"""The typed answers of scan intake: a scan and its pages as the back office and the API
see them (never the page image or its registration). The API's scan schemas are these."""

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


__all__ = ["ScanPageView", "ScanView"]
