"""Heatmap indexes: a case's events by time, a task's events, cases by process version

Without them PostgreSQL joined the period's events to the cases of a version through a
bitmap AND of the case index and the ``at`` index, once per case (the whole period's
``at`` range each time): quadratic in the cases, 592 s at 10,000 cases.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-03 11:45:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_audit_event_case_at", "audit_event", ["case_id", "at"])
    op.create_index("ix_audit_event_task", "audit_event", ["task_id"])
    op.create_index("ix_case_process_version", "case", ["process_id", "process_version", "id"])


def downgrade() -> None:
    op.drop_index("ix_case_process_version", table_name="case")
    op.drop_index("ix_audit_event_task", table_name="audit_event")
    op.drop_index("ix_audit_event_case_at", table_name="audit_event")
