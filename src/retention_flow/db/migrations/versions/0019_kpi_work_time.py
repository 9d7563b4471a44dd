"""KPI work time and indexes: when work on a task starts and how long it was handled
(pauses excluded), and the indexes the KPI queries read periods through

Revision ID: 0019
Revises: 0013
Create Date: 2026-12-03 08:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from retention_flow.db.types import UTCDateTime

revision: str = "0019"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("work_item") as batch:
        batch.add_column(sa.Column("work_started_at", UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("work_started_by", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("first_worked_at", UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("handling_seconds", sa.Float(), nullable=True))
    op.create_index("ix_work_item_ended", "work_item", ["ended_at"])
    op.create_index("ix_work_item_open", "work_item", ["state", "created_at"])
    op.create_index("ix_case_ended", "case", ["ended_at"])


def downgrade() -> None:
    op.drop_index("ix_case_ended", table_name="case")
    op.drop_index("ix_work_item_open", table_name="work_item")
    op.drop_index("ix_work_item_ended", table_name="work_item")
    with op.batch_alter_table("work_item") as batch:
        batch.drop_column("handling_seconds")
        batch.drop_column("first_worked_at")
        batch.drop_column("work_started_by")
        batch.drop_column("work_started_at")
