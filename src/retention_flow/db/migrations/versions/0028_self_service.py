"""customer self-service links (single use, expiring) and their per-address rate limit

Revision ID: 0028
Revises: 0020
Create Date: 2026-12-03 11:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import retention_flow.db.types

revision: str = "0028"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DT = retention_flow.db.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "self_service_link",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("letter_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", UTC_DT, nullable=False),
        sa.Column("expires_at", UTC_DT, nullable=False),
        sa.Column("used_at", UTC_DT, nullable=True),
        sa.Column(
            "answer",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_self_service_link_case_id", "self_service_link", ["case_id"])
    op.create_table(
        "self_service_hit",
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("window_start", UTC_DT, nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("client"),
    )
    op.create_index("ix_self_service_hit_window_start", "self_service_hit", ["window_start"])


def downgrade() -> None:
    op.drop_index("ix_self_service_hit_window_start", table_name="self_service_hit")
    op.drop_table("self_service_hit")
    op.drop_index("ix_self_service_link_case_id", table_name="self_service_link")
    op.drop_table("self_service_link")
