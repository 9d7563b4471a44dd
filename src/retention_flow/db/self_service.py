"""Tables of the customer self-service offer page (services/outreach/self_service.py).

A ``self_service_link`` row is one personal link printed on a retention letter: the
signed token names the row, the row says which case it answers, until when, and whether
it has been used (single use: ``used_at`` is set in the same transaction as the case
step that takes the answer). ``self_service_hit`` counts requests per client address and
minute, so the public page can be rate-limited across serving processes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from .types import JSONType, UTCDateTime


class SelfServiceLink(SQLModel, table=True):
    """A personal, single-use link to answer one case's offer online."""

    __tablename__ = "self_service_link"

    id: str = Field(primary_key=True, max_length=36)
    case_id: str = Field(max_length=36, index=True)
    letter_id: str = Field(max_length=36)
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    #: what the customer answered (offer code or "none", and the rating if given)
    answer: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONType))


class SelfServiceHit(SQLModel, table=True):
    """Requests to the self-service page from one client address in one minute."""

    __tablename__ = "self_service_hit"

    client: str = Field(primary_key=True, max_length=64)
    window_start: datetime = Field(sa_type=UTCDateTime, index=True)
    hits: int
