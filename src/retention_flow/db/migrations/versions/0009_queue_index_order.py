"""queue index in the queue's order: (role, state, due_at, priority DESC)

The queue is read ``ORDER BY due_at, priority DESC``; with priority ascending in the
index, every page needed a sort step.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 20:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_work_item_queue", table_name="work_item")
    op.create_index(
        "ix_work_item_queue",
        "work_item",
        ["role", "state", "due_at", sa.text("priority DESC")],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_work_item_queue", table_name="work_item")
    op.create_index(
        "ix_work_item_queue", "work_item", ["role", "state", "due_at", "priority"], unique=False
    )
