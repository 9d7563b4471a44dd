"""The SQLModel tables as SQLAlchemy Core ``Table`` objects, for typed Core queries."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table

from .channels import ContractChange, Customer, Letter, SettlementLine
from .incentives import PayoutStatement, QaReview
from .models import (
    AuditEvent,
    AuditHead,
    CampaignStart,
    Case,
    CaseKey,
    Deployment,
    IdempotencyKey,
    Incident,
    Job,
    LoginThrottle,
    ProcessVersion,
    RevokedToken,
    SignalWait,
    Timer,
    User,
    WorkItem,
)
from .operations import IncidentBatch
from .partners import LeadAllocation, Partner, SettlementEntry, SettlementStatement
from .routing import AgentSkill, OfferDecision
from .scans import Scan, ScanPage
from .self_service import SelfServiceHit, SelfServiceLink


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
CAMPAIGN_START = _t(CampaignStart)
LOGIN_THROTTLE = _t(LoginThrottle)

CONTRACT_CHANGE = _t(ContractChange)
LETTER = _t(Letter)
SETTLEMENT_LINE = _t(SettlementLine)
CUSTOMER = _t(Customer)
AGENT_SKILL = _t(AgentSkill)
OFFER_DECISION = _t(OfferDecision)

PARTNER = _t(Partner)
LEAD_ALLOCATION = _t(LeadAllocation)
SETTLEMENT_STATEMENT = _t(SettlementStatement)
SETTLEMENT_ENTRY = _t(SettlementEntry)

INCIDENT_BATCH = _t(IncidentBatch)
QA_REVIEW = _t(QaReview)
PAYOUT_STATEMENT = _t(PayoutStatement)

SCAN = _t(Scan)
SCAN_PAGE = _t(ScanPage)

SELF_SERVICE_LINK = _t(SelfServiceLink)
SELF_SERVICE_HIT = _t(SelfServiceHit)

# case migrations (db/case_migration.py)
from .case_migration import CaseMigration, CaseMigrationItem  # noqa: E402

CASE_MIGRATION = _t(CaseMigration)
CASE_MIGRATION_ITEM = _t(CaseMigrationItem)
