"""Routing: the case's segment and channel reason, the work item's segment and required
skills, agent skills, and the record of every "next task" offer

Revision ID: 0024
Revises: 0028
Create Date: 2026-12-03 11:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import retention_flow.db.types

revision: str = "0024"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _dt(name: str) -> sa.Column:
    return sa.Column(name, retention_flow.db.types.UTCDateTime(timezone=True), nullable=False)


def upgrade() -> None:
    with op.batch_alter_table("case") as batch:
        batch.add_column(sa.Column("segment", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("channel_reason", sa.String(length=400), nullable=True))
        batch.create_index("ix_case_segment", ["segment"])
    with op.batch_alter_table("work_item") as batch:
        batch.add_column(sa.Column("segment", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("required_skills", JSON, nullable=True))
    op.create_table(
        "agent_skill",
        sa.Column("username", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("value", sa.String(length=100), nullable=False),
        sa.Column("proficiency", sa.Integer(), nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        _dt("updated_at"),
        sa.PrimaryKeyConstraint("username", "kind", "value"),
    )
    op.create_table(
        "offer_decision",
        sa.Column("id", sa.Integer(), nullable=False),
        _dt("at"),
        sa.Column("username", sa.String(length=200), nullable=False),
        sa.Column("task_id", sa.String(length=36), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("segment", sa.String(length=100), nullable=True),
        sa.Column("rule", sa.String(length=20), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("reason", sa.String(length=400), nullable=False),
        sa.Column("candidates", sa.Integer(), nullable=False),
        sa.Column("inputs", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_offer_decision_at", "offer_decision", ["at"])
    op.create_index("ix_offer_decision_user", "offer_decision", ["username", "at"])
    op.create_index("ix_offer_decision_task", "offer_decision", ["task_id"])


def downgrade() -> None:
    op.drop_table("offer_decision")
    op.drop_table("agent_skill")
    with op.batch_alter_table("work_item") as batch:
        batch.drop_column("required_skills")
        batch.drop_column("segment")
    with op.batch_alter_table("case") as batch:
        batch.drop_index("ix_case_segment")
        batch.drop_column("channel_reason")
        batch.drop_column("segment")
