"""Index of the cases' customer id (case search by customer) and of the sealed audit events

Revision ID: 0023
Revises: 0025
Create Date: 2026-12-03 12:25:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import column, table

from retention_flow.db.json_sql import json_text_indexed
from retention_flow.db.types import JSONType

revision: str = "0023"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # the same expression the search compiles to, on SQLite and PostgreSQL alike
    case = table("case", column("data", JSONType))
    op.create_index("ix_case_customer_id", "case", [json_text_indexed(case.c.data, "customer_id")])
    # where sealing began: min(id) of the sealed events, read by each case's audit check
    sealed = sa.text("seal IS NOT NULL")
    op.create_index(
        "ix_audit_event_sealed",
        "audit_event",
        ["id"],
        sqlite_where=sealed,
        postgresql_where=sealed,
    )


def downgrade() -> None:
    op.drop_index("ix_audit_event_sealed", table_name="audit_event")
    op.drop_index("ix_case_customer_id", table_name="case")
