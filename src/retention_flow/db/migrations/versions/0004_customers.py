"""customers and their contracts

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import retention_flow.db.types

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "customer",
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("product", sa.String(length=40), nullable=False),
        sa.Column("region", sa.String(length=40), nullable=False),
        sa.Column("tenure_months", sa.Integer(), nullable=False),
        sa.Column("contract_age_months", sa.Integer(), nullable=False),
        sa.Column("contract_end", sa.Date(), nullable=False),
        sa.Column("monthly_revenue_cents", sa.Integer(), nullable=False),
        sa.Column("churn_risk", sa.String(length=20), nullable=False),
        sa.Column("created_at", retention_flow.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_customer_region", "customer", ["region"])


def downgrade() -> None:
    op.drop_table("customer")
