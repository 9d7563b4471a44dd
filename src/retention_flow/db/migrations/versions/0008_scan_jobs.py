"""scan pages as jobs: the page image, its exception case and resolution; letter documents

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 20:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("scan_page") as batch:
        batch.add_column(sa.Column("image", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("exception_case_id", sa.String(length=36), nullable=True))
        batch.add_column(sa.Column("resolution", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("resolved_by", sa.String(length=200), nullable=True))
    op.create_index("ix_scan_page_exception_case_id", "scan_page", ["exception_case_id"])
    op.create_index("ix_scan_page_status", "scan_page", ["status"])
    with op.batch_alter_table("letter") as batch:
        batch.add_column(sa.Column("document", JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("letter") as batch:
        batch.drop_column("document")
    op.drop_index("ix_scan_page_status", table_name="scan_page")
    op.drop_index("ix_scan_page_exception_case_id", table_name="scan_page")
    with op.batch_alter_table("scan_page") as batch:
        batch.drop_column("resolved_by")
        batch.drop_column("resolution")
        batch.drop_column("exception_case_id")
        batch.drop_column("image")
