"""heatmap rollup: counts per process version, element or flow and hour, with a watermark

Revision ID: 0029
Revises: 0023
Create Date: 2026-12-03 14:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import retention_flow.db.types

revision: str = "0029"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DT = retention_flow.db.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "heatmap_rollup",
        sa.Column("process_id", sa.String(length=200), nullable=False),
        sa.Column("process_version", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("hour", sa.Integer(), nullable=False),
        sa.Column("sub", sa.Integer(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("process_id", "process_version", "kind", "key", "hour", "sub"),
    )
    op.create_table(
        "heatmap_case",
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("process_id", sa.String(length=200), nullable=False),
        sa.Column("process_version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("case_id"),
    )
    op.create_table(
        "heatmap_breach",
        sa.Column("task_id", sa.String(length=36), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint("task_id"),
    )
    op.create_index("ix_heatmap_breach_case_id", "heatmap_breach", ["case_id"])
    op.create_table(
        "heatmap_watermark",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("last_event_id", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", UTC_DT, nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("heatmap_watermark")
    op.drop_index("ix_heatmap_breach_case_id", table_name="heatmap_breach")
    op.drop_table("heatmap_breach")
    op.drop_table("heatmap_case")
    op.drop_table("heatmap_rollup")
