"""Operations on live cases that run in the background: bulk incident retries.

A batch names its filter and is worked by worker jobs in chunks; its counters move in
the same transaction as each case's retry, so they are exact even if a worker dies.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel

from .types import JSONType, UTCDateTime


class IncidentBatch(SQLModel, table=True):
    """A bulk retry: ``state`` queued | running | done. ``matched`` open
    incidents (raised before ``created_at``) are retried once each: ``resolved`` (the
    case went on), ``failed_again`` (a new incident) or ``skipped`` (gone meanwhile, or
    the retry was refused; ``errors`` keeps the first reasons)."""

    __tablename__ = "incident_batch"

    id: str = Field(primary_key=True, max_length=36)
    filter: dict[str, Any] = Field(sa_column=Column(JSONType, nullable=False))
    reason: str = Field(sa_column=Column(Text, nullable=False))
    requested_by: str = Field(max_length=200)
    requested_roles: list[str] = Field(sa_column=Column(JSONType, nullable=False))
    state: str = Field(default="queued", max_length=20)
    matched: int = 0
    resolved: int = 0
    failed_again: int = 0
    skipped: int = 0
    errors: list[dict[str, Any]] = Field(sa_column=Column(JSONType, nullable=False))
    created_at: datetime = Field(sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
