"""QA reviews of sampled cases and incentive payout statements

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03 09:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import retention_flow.db.types

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _dt(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, retention_flow.db.types.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "qa_review",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("sample_id", sa.String(length=36), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=False),
        _dt("case_ended_at"),
        sa.Column("agent", sa.String(length=200), nullable=False),
        sa.Column("stratum", sa.String(length=200), nullable=False),
        sa.Column("reviewer", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("form", sa.String(length=400), nullable=False),
        sa.Column("deployment_id", sa.String(length=36), nullable=False),
        sa.Column("answers", JSON, nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        _dt("created_at"),
        _dt("done_at", nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["case.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("sample_id", "reviewer"),
    )
    op.create_index("ix_qa_review_reviewer", "qa_review", ["reviewer", "state"])
    op.create_index("ix_qa_review_agent", "qa_review", ["agent", "case_ended_at"])
    op.create_index("ix_qa_review_period", "qa_review", ["period"])
    op.create_table(
        "payout_statement",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("agent", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("corrects", sa.String(length=36), nullable=True),
        sa.Column("reason", sa.String(length=1000), nullable=True),
        sa.Column("plan_deployment_id", sa.String(length=36), nullable=False),
        sa.Column("plan_hash", sa.String(length=64), nullable=False),
        sa.Column("plan", JSON, nullable=False),
        sa.Column("components", JSON, nullable=False),
        sa.Column("points", sa.Float(), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        _dt("created_at"),
        sa.Column("approved_by", sa.String(length=200), nullable=True),
        _dt("approved_at", nullable=True),
        sa.Column("hash", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_payout_period_agent", "payout_statement", ["period", "agent"])


def downgrade() -> None:
    op.drop_index("ix_payout_period_agent", table_name="payout_statement")
    op.drop_table("payout_statement")
    op.drop_index("ix_qa_review_period", table_name="qa_review")
    op.drop_index("ix_qa_review_agent", table_name="qa_review")
    op.drop_index("ix_qa_review_reviewer", table_name="qa_review")
    op.drop_table("qa_review")
