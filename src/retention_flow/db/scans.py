"""Scanned response forms: one ``scan`` per uploaded file (its content hash makes a
re-upload the same scan), one ``scan_page`` per page with where it ended up.

``case_id`` has no foreign key on purpose (like the channel tables): a page that names no
case, or a case removed later, must still be visible.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, LargeBinary, Text
from sqlmodel import Field, SQLModel

from .types import JSONType, UTCDateTime


class Scan(SQLModel, table=True):
    """One uploaded file. ``status``: reading (claimed, some pages still queued) | read |
    unreadable (not an image/PDF we can read; ``error`` says why)."""

    __tablename__ = "scan"

    id: str = Field(primary_key=True, max_length=36)
    sha256: str = Field(max_length=64, unique=True)
    filename: str = Field(max_length=300)
    uploaded_by: str = Field(max_length=200)
    created_at: datetime = Field(sa_type=UTCDateTime)
    page_count: int = 0
    status: str = Field(max_length=20)
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class ScanPage(SQLModel, table=True):
    """One page: ``queued`` (stored, not read yet), then where it ended — processed |
    verification | exception — with its reasons.

    ``image`` is the page as read (PNG, greyscale): workers read it from here and the back
    office sees it. An exception page has an exception case (``exception_case_id``) whose
    back-office task resolves it: ``resolution`` assigning → assigned (delivered to the case
    the back office named, as verification) or discarded.
    """

    __tablename__ = "scan_page"

    scan_id: str = Field(foreign_key="scan.id", primary_key=True, max_length=36)
    page_no: int = Field(primary_key=True)  # 1-based
    status: str = Field(max_length=20, index=True)
    reasons: list[str] = Field(sa_column=Column(JSONType, nullable=False))
    case_number: str | None = Field(default=None, max_length=60, index=True)
    case_id: str | None = Field(default=None, max_length=36, index=True)
    fields: list[dict[str, Any]] = Field(sa_column=Column(JSONType, nullable=False))
    created_at: datetime = Field(sa_type=UTCDateTime)
    image: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    #: how the page lay on the scanner (rotation, dpi, upside_down): field boxes are on
    #: the upright page, so a crop of an upside-down page turns the image first
    registration: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONType))
    #: the response-form template the page was identified as (None: none matched)
    template_id: str | None = Field(default=None, max_length=100)
    exception_case_id: str | None = Field(default=None, max_length=36, index=True)
    resolution: str | None = Field(default=None, max_length=20)
    resolved_by: str | None = Field(default=None, max_length=200)
