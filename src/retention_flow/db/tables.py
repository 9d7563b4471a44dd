"""The SQLModel tables as SQLAlchemy Core ``Table`` objects, for typed Core queries."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table

from .channels import ContractChange, Customer, Letter, SettlementLine
from .incentives import PayoutStatement, QaReview
from .models import (
    AuditEvent,
    AuditHead,
    Case,
    CaseKey,
    Deployment,
    IdempotencyKey,
    Incident,
    Job,
    ProcessVersion,
    RevokedToken,
    SignalWait,
    Timer,
    User,
    WorkItem,
)
from .partners import LeadAllocation, Partner, SettlementEntry, SettlementStatement
from .scans import Scan, ScanPage


def _t(model: type) -> Table:
    return cast(Table, model.__table__)  # type: ignore[attr-defined]


DEPLOYMENT = _t(Deployment)
PROCESS_VERSION = _t(ProcessVersion)
CASE = _t(Case)
CASE_KEY = _t(CaseKey)
WORK_ITEM = _t(WorkItem)
TIMER = _t(Timer)
SIGNAL_WAIT = _t(SignalWait)
JOB = _t(Job)
INCIDENT = _t(Incident)
AUDIT_EVENT = _t(AuditEvent)
AUDIT_HEAD = _t(AuditHead)
USER = _t(User)
IDEMPOTENCY_KEY = _t(IdempotencyKey)
REVOKED_TOKEN = _t(RevokedToken)

CONTRACT_CHANGE = _t(ContractChange)
LETTER = _t(Letter)
SETTLEMENT_LINE = _t(SettlementLine)
CUSTOMER = _t(Customer)

PARTNER = _t(Partner)
LEAD_ALLOCATION = _t(LeadAllocation)
SETTLEMENT_STATEMENT = _t(SettlementStatement)
SETTLEMENT_ENTRY = _t(SettlementEntry)

QA_REVIEW = _t(QaReview)
PAYOUT_STATEMENT = _t(PayoutStatement)

SCAN = _t(Scan)
SCAN_PAGE = _t(ScanPage)
