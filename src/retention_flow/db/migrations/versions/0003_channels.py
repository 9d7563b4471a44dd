"""channel tables (contract changes, letters, settlement lines); partner scope on work items

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 14:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import retention_flow.db.types

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
UTC = retention_flow.db.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "contract_change",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("customer_id", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("offer_code", sa.String(length=60), nullable=True),
        sa.Column("booked_by", sa.String(length=200), nullable=False),
        sa.Column("booked_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", "kind"),
    )
    op.create_index("ix_contract_change_case_id", "contract_change", ["case_id"])
    op.create_index("ix_contract_change_customer_id", "contract_change", ["customer_id"])
    op.create_table(
        "letter",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("case_number", sa.String(length=60), nullable=True),
        sa.Column("customer_id", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("offer_codes", JSON, nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", "kind"),
    )
    op.create_index("ix_letter_case_id", "letter", ["case_id"])
    op.create_index("ix_letter_case_number", "letter", ["case_number"])
    op.create_table(
        "settlement_line",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("partner_id", sa.String(length=100), nullable=False),
        sa.Column("offer_code", sa.String(length=60), nullable=True),
        sa.Column("commission_cents", sa.Integer(), nullable=False),
        sa.Column("detail", JSON, nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id"),
    )
    op.create_index("ix_settlement_line_partner_id", "settlement_line", ["partner_id"])
    with op.batch_alter_table("work_item") as batch:
        batch.add_column(sa.Column("partner", sa.String(length=200), nullable=True))
        batch.create_index("ix_work_item_partner", ["partner", "state", "due_at"])


def downgrade() -> None:
    with op.batch_alter_table("work_item") as batch:
        batch.drop_index("ix_work_item_partner")
        batch.drop_column("partner")
    op.drop_table("settlement_line")
    op.drop_table("letter")
    op.drop_table("contract_change")
