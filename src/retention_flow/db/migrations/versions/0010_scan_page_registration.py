"""scan pages keep how they lay on the scanner (for upright field crops)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 20:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("scan_page") as batch:
        batch.add_column(sa.Column("registration", JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("scan_page") as batch:
        batch.drop_column("registration")
