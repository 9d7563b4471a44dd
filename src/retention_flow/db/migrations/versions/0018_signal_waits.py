"""signal waits: the signals each case waits for, so a broadcast finds them

Revision ID: 0018
Revises: 0012
Create Date: 2026-12-03 08:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "signal_wait",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["case.id"]),
        sa.PrimaryKeyConstraint("name", "case_id"),
    )
    op.create_index("ix_signal_wait_case_id", "signal_wait", ["case_id"])


def downgrade() -> None:
    op.drop_index("ix_signal_wait_case_id", table_name="signal_wait")
    op.drop_table("signal_wait")
