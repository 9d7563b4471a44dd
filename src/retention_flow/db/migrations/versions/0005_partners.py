"""partner organisations, lead allocations, settlement statements

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

import retention_flow.db.types

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
UTC = retention_flow.db.types.UTCDateTime(timezone=True)
S = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "partner_org",
        sa.Column("id", S(length=100), nullable=False),
        sa.Column("name", S(length=200), nullable=False),
        sa.Column("capacity_per_period", sa.Integer(), nullable=False),
        sa.Column("products", JSON, nullable=False),
        sa.Column("regions", JSON, nullable=False),
        sa.Column("min_contract_age_months", sa.Integer(), nullable=True),
        sa.Column("max_contract_age_months", sa.Integer(), nullable=True),
        sa.Column("cost_per_lead_cents", sa.Integer(), nullable=False),
        sa.Column("commission_cents", sa.Integer(), nullable=False),
        sa.Column("quality", sa.Float(), nullable=False),
        sa.Column("min_share", sa.Float(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "lead_allocation",
        sa.Column("id", S(length=36), nullable=False),
        sa.Column("lead_id", S(length=200), nullable=False),
        sa.Column("case_id", S(length=36), nullable=True),
        sa.Column("run_id", S(length=36), nullable=False),
        sa.Column("partner_id", S(length=100), nullable=False),
        sa.Column("score_cents", sa.Integer(), nullable=False),
        sa.Column("allocated_by", S(length=200), nullable=False),
        sa.Column("allocated_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("lead_id"),
    )
    op.create_index("ix_lead_allocation_case_id", "lead_allocation", ["case_id"])
    op.create_index("ix_lead_allocation_run_id", "lead_allocation", ["run_id"])
    op.create_index(
        "ix_lead_allocation_partner_at", "lead_allocation", ["partner_id", "allocated_at"]
    )
    op.create_table(
        "settlement_statement",
        sa.Column("id", S(length=36), nullable=False),
        sa.Column("partner_id", S(length=100), nullable=False),
        sa.Column("period", S(length=7), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("status", S(length=20), nullable=False),
        sa.Column("total_cents", sa.Integer(), nullable=False),
        sa.Column("entry_count", sa.Integer(), nullable=False),
        sa.Column("hash", S(length=64), nullable=True),
        sa.Column("created_by", S(length=200), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("approved_by", S(length=200), nullable=True),
        sa.Column("approved_at", UTC, nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("partner_id", "period", "seq"),
    )
    op.create_index("ix_settlement_statement_partner_id", "settlement_statement", ["partner_id"])
    op.create_table(
        "settlement_entry",
        sa.Column("id", S(length=36), nullable=False),
        sa.Column("statement_id", S(length=36), nullable=False),
        sa.Column("pay_key", S(length=100), nullable=False),
        sa.Column("kind", S(length=20), nullable=False),
        sa.Column("line_id", S(length=36), nullable=True),
        sa.Column("case_id", S(length=36), nullable=False),
        sa.Column("partner_id", S(length=100), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("corrects_entry_id", S(length=36), nullable=True),
        sa.Column("reason", S(length=1000), nullable=True),
        sa.Column("detail", JSON, nullable=False),
        sa.Column("created_by", S(length=200), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["statement_id"], ["settlement_statement.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("pay_key"),
    )
    op.create_index("ix_settlement_entry_statement_id", "settlement_entry", ["statement_id"])
    op.create_index("ix_settlement_entry_case_id", "settlement_entry", ["case_id"])


def downgrade() -> None:
    op.drop_table("settlement_entry")
    op.drop_table("settlement_statement")
    op.drop_table("lead_allocation")
    op.drop_table("partner_org")
