"""case migrations: moving running cases to another version of their process

Revision ID: 0016
Revises: 0017
Create Date: 2026-12-03 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import retention_flow.db.types

revision: str = "0016"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DT = retention_flow.db.types.UTCDateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "case_migration",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("process_id", sa.String(length=200), nullable=False),
        sa.Column("from_version", sa.Integer(), nullable=False),
        sa.Column("to_version", sa.Integer(), nullable=False),
        sa.Column("from_deployment_id", sa.String(length=36), nullable=False),
        sa.Column("to_deployment_id", sa.String(length=36), nullable=False),
        sa.Column("mapping", JSON, nullable=False),
        sa.Column("data_defaults", JSON, nullable=False),
        sa.Column("case_filter", JSON, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", UTC_DT, nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("finished_at", UTC_DT, nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_case_migration_process_id", "case_migration", ["process_id"])
    op.create_table(
        "case_migration_item",
        sa.Column("migration_id", sa.String(length=36), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("detail", JSON, nullable=True),
        sa.Column("updated_at", UTC_DT, nullable=True),
        sa.ForeignKeyConstraint(["migration_id"], ["case_migration.id"]),
        sa.PrimaryKeyConstraint("migration_id", "case_id"),
    )
    op.create_index(
        "ix_case_migration_item_status", "case_migration_item", ["migration_id", "status"]
    )


def downgrade() -> None:
    op.drop_index("ix_case_migration_item_status", table_name="case_migration_item")
    op.drop_table("case_migration_item")
    op.drop_index("ix_case_migration_process_id", table_name="case_migration")
    op.drop_table("case_migration")
