"""Request and response bodies of the operations API: incidents and case control."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from retention_flow.services.cases.views import (
    IncidentBatchView,
    IncidentDetailView,
    IncidentView,
)

from .schemas import MAX_INT


class ReasonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=2000, description="why: kept in the audit trail")


class OptionalReasonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=2000)


class DataPatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    patch: dict[str, Any] = Field(
        description="JSON merge patch (RFC 7396) of the case data: null removes a key"
    )
    reason: str = Field(min_length=1, max_length=2000)


class RetryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    patch: dict[str, Any] | None = Field(
        default=None,
        description="optional JSON merge patch (RFC 7396) of the case data, applied first "
        "(a reason is then required)",
    )
    reason: str | None = Field(default=None, max_length=2000)


class BulkRetryIn(BaseModel):
    """Retry every open incident matching the filter (raised before this request)."""

    model_config = ConfigDict(extra="forbid")

    process_id: str | None = Field(default=None, max_length=200)
    version: int | None = Field(default=None, ge=1, le=MAX_INT)
    element_id: str | None = Field(default=None, max_length=200)
    error_code: str | None = Field(default=None, max_length=100)
    since: datetime | None = None
    reason: str = Field(min_length=1, max_length=2000)


#: incidents: the views the incident services answer with
IncidentPublic = IncidentView
IncidentDetail = IncidentDetailView


class IncidentsPublic(BaseModel):
    data: list[IncidentPublic]
    count: int


IncidentBatchPublic = IncidentBatchView
