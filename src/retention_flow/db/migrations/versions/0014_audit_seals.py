"""audit seals: an HMAC (and its key id) on every audit event and stream head

Revision ID: 0014
Revises: 0012
Create Date: 2026-12-03 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: table -> (key id column, seal column); rows written before this revision stay NULL
#: until ``retention-flow audit seal-existing`` seals their heads
COLUMNS = {
    "audit_event": ("seal_key", "seal"),
    "audit_head": ("seal_key", "seal"),
    "case": ("audit_seal_key", "audit_seal"),
}


def upgrade() -> None:
    for table, (key_column, seal_column) in COLUMNS.items():
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column(key_column, sa.String(length=40), nullable=True))
            batch.add_column(sa.Column(seal_column, sa.String(length=64), nullable=True))


def downgrade() -> None:
    for table, (key_column, seal_column) in COLUMNS.items():
        with op.batch_alter_table(table) as batch:
            batch.drop_column(seal_column)
            batch.drop_column(key_column)
