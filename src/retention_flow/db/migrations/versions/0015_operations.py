"""operating live cases: incidents keep their process version, error code and the case
data at failure; bulk incident retries

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import retention_flow.db.types

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
UTC = retention_flow.db.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("incident") as batch:
        batch.add_column(sa.Column("process_id", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("process_version", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("error_code", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("data", JSON, nullable=True))
    # incidents raised before this release: their case's process and version
    op.execute(
        'UPDATE incident SET process_id = (SELECT c.process_id FROM "case" c'
        " WHERE c.id = incident.case_id), process_version = (SELECT c.process_version"
        ' FROM "case" c WHERE c.id = incident.case_id)'
    )
    op.create_index("ix_incident_open", "incident", ["status", "created_at"])
    op.create_table(
        "incident_batch",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("filter", JSON, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.String(length=200), nullable=False),
        sa.Column("requested_roles", JSON, nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("matched", sa.Integer(), nullable=False),
        sa.Column("resolved", sa.Integer(), nullable=False),
        sa.Column("failed_again", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("errors", JSON, nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("finished_at", UTC, nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("incident_batch")
    op.drop_index("ix_incident_open", table_name="incident")
    with op.batch_alter_table("incident") as batch:
        batch.drop_column("data")
        batch.drop_column("error_code")
        batch.drop_column("process_version")
        batch.drop_column("process_id")
