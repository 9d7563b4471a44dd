"""Tables of the sales-partner business: partner organisations, lead allocations and
settlement statements.

Settlement statements are built from ``settlement_line`` (one commission line per case,
written by the sales-partner process). A statement's entries never change once it is
approved: a correction is a new entry referencing the corrected one.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from .types import JSONType, UTCDateTime


class Partner(SQLModel, table=True):
    """A sales-partner organisation: capacity, restrictions, prices and quality."""

    __tablename__ = "partner_org"

    id: str = Field(primary_key=True, max_length=100)  # e.g. p_alpha (the DMN's output)
    name: str = Field(max_length=200)
    #: leads the partner takes per calendar month (UTC)
    capacity_per_period: int
    #: restrictions; an empty list means "any"
    products: list[str] = Field(sa_column=Column(JSONType, nullable=False))
    regions: list[str] = Field(sa_column=Column(JSONType, nullable=False))
    min_contract_age_months: int | None = None
    max_contract_age_months: int | None = None
    cost_per_lead_cents: int
    commission_cents: int
    #: expected share of allocated leads the partner retains (0..1)
    quality: float
    #: minimum share of an allocation batch (fairness), 0 = none
    min_share: float = 0.0
    active: bool = True
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class LeadAllocation(SQLModel, table=True):
    """A lead handed to a partner; counts against the partner's capacity in its period.

    ``lead_id`` is the natural key: a case's n-th allocation is ``<case id>#<n>``, so a
    retried step finds its row instead of allocating again.
    """

    __tablename__ = "lead_allocation"
    __table_args__ = (Index("ix_lead_allocation_partner_at", "partner_id", "allocated_at"),)

    id: str = Field(primary_key=True, max_length=36)
    lead_id: str = Field(max_length=200, unique=True)
    case_id: str | None = Field(default=None, max_length=36, index=True)
    run_id: str = Field(max_length=36, index=True)
    partner_id: str = Field(max_length=100)
    score_cents: int
    allocated_by: str = Field(max_length=200)
    allocated_at: datetime = Field(sa_type=UTCDateTime)


class SettlementStatement(SQLModel, table=True):
    """A partner's commission statement for one month; frozen (with a hash) once approved.

    ``seq`` counts statements of one partner and period: lines or corrections arriving
    after approval go into the next one.
    """

    __tablename__ = "settlement_statement"
    __table_args__ = (UniqueConstraint("partner_id", "period", "seq"),)

    id: str = Field(primary_key=True, max_length=36)
    partner_id: str = Field(max_length=100, index=True)
    period: str = Field(max_length=7)  # YYYY-MM
    period_start: date
    period_end: date  # exclusive
    seq: int
    status: str = Field(max_length=20)  # draft | approved
    total_cents: int = 0
    entry_count: int = 0
    hash: str | None = Field(default=None, max_length=64)
    created_by: str = Field(max_length=200)
    created_at: datetime = Field(sa_type=UTCDateTime)
    approved_by: str | None = Field(default=None, max_length=200)
    approved_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)


class SettlementEntry(SQLModel, table=True):
    """One amount on a statement: a commission (from a settlement line) or a correction.

    ``pay_key`` makes paying twice impossible: ``case:<case id>`` for a commission (one
    per case, whatever line claims it), the entry's own id for a correction.
    """

    __tablename__ = "settlement_entry"

    id: str = Field(primary_key=True, max_length=36)
    statement_id: str = Field(foreign_key="settlement_statement.id", max_length=36, index=True)
    pay_key: str = Field(max_length=100, unique=True)
    kind: str = Field(max_length=20)  # commission | correction
    line_id: str | None = Field(default=None, max_length=36)
    case_id: str = Field(max_length=36, index=True)
    partner_id: str = Field(max_length=100)
    amount_cents: int
    corrects_entry_id: str | None = Field(default=None, max_length=36)
    reason: str | None = Field(default=None, max_length=1000)
    detail: dict[str, Any] = Field(sa_column=Column(JSONType, nullable=False))
    created_by: str = Field(max_length=200)
    created_at: datetime = Field(sa_type=UTCDateTime)
