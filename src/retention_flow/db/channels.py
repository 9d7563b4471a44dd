"""Tables the channels' service tasks write: contract changes, letters, settlements.

Each row carries the case and a natural key that makes the service idempotent: a step
retried after an incident (or a worker crash) finds its row and does not book twice.
``case_id`` has no foreign key on purpose: a service task of a case's very first step runs
before the case row is inserted (same transaction), and these records of outside effects
must outlive any clean-up of cases.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from .types import JSONType, UTCDateTime


class ContractChange(SQLModel, table=True):
    """A booked change of a customer's contract (an accepted offer, or a cancellation)."""

    __tablename__ = "contract_change"
    __table_args__ = (UniqueConstraint("case_id", "kind"),)

    id: str = Field(primary_key=True, max_length=36)
    case_id: str = Field(max_length=36, index=True)
    customer_id: str = Field(max_length=100, index=True)
    kind: str = Field(max_length=40)  # offer | cancellation
    offer_code: str | None = Field(default=None, max_length=60)
    booked_by: str = Field(max_length=200)
    booked_at: datetime = Field(sa_type=UTCDateTime)


class Letter(SQLModel, table=True):
    """The outbox: letters to print and mail (confirmation, response form, reminder...)."""

    __tablename__ = "letter"
    __table_args__ = (UniqueConstraint("case_id", "kind"),)

    id: str = Field(primary_key=True, max_length=36)
    case_id: str = Field(max_length=36, index=True)
    case_number: str | None = Field(default=None, max_length=60, index=True)
    customer_id: str = Field(max_length=100)
    kind: str = Field(max_length=40)
    offer_codes: list[str] = Field(sa_column=Column(JSONType, nullable=False))
    status: str = Field(default="queued", max_length=20)  # queued | printed | sent
    created_at: datetime = Field(sa_type=UTCDateTime)
    #: what a printed response form shows (template, customer, case number, offers): the
    #: PDF is rendered from it, the same bytes every time (services/outreach/response_forms.py)
    document: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONType))


class SettlementLine(SQLModel, table=True):
    """A partner's commission for one retained customer: one line per case, never two."""

    __tablename__ = "settlement_line"
    __table_args__ = (UniqueConstraint("case_id"),)

    id: str = Field(primary_key=True, max_length=36)
    case_id: str = Field(max_length=36)
    partner_id: str = Field(max_length=100, index=True)
    offer_code: str | None = Field(default=None, max_length=60)
    commission_cents: int
    detail: dict[str, Any] = Field(sa_column=Column(JSONType, nullable=False))
    created_at: datetime = Field(sa_type=UTCDateTime)


class Customer(SQLModel, table=True):
    """A subscriber and their contract: what a case is about (demo and task context)."""

    __tablename__ = "customer"

    id: str = Field(primary_key=True, max_length=100)
    name: str = Field(max_length=200)
    product: str = Field(max_length=40)
    region: str = Field(max_length=40, index=True)
    tenure_months: int
    contract_age_months: int
    contract_end: date
    monthly_revenue_cents: int
    churn_risk: str = Field(max_length=20)
    created_at: datetime = Field(sa_type=UTCDateTime)
