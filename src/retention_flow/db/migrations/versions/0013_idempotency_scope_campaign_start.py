"""idempotency keys per user with an expiry; campaign batch starts

Revision ID: 0013
Revises: 0016
Create Date: 2026-12-03 08:00:00

``idempotency_key`` gains ``owner`` (part of the primary key: keys are per user and
operation) and ``expires_at``. The table is rebuilt (a primary key cannot be altered on
SQLite); existing rows are kept with ``owner = created_by`` and a day to live.
``campaign_start`` records which slot of a campaign batch started which case.
"""

from collections.abc import Sequence
from datetime import timedelta

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import retention_flow.db.types

revision: str = "0013"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
UTC_DT = retention_flow.db.types.UTCDateTime(timezone=True)
KEPT_FOR = timedelta(days=1)  # the default RETENTION_FLOW_IDEMPOTENCY_TTL_HOURS


def _key_columns(with_owner: bool) -> list[sa.Column]:  # type: ignore[type-arg]
    owner = [sa.Column("owner", sa.String(length=200), nullable=False)] if with_owner else []
    expires = [sa.Column("expires_at", UTC_DT, nullable=False)] if with_owner else []
    return [
        *owner,
        sa.Column("scope", sa.String(length=200), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("response", JSON, nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", UTC_DT, nullable=False),
        *expires,
    ]


def _rebuild_keys(with_owner: bool) -> None:
    bind = op.get_bind()
    old = sa.table("idempotency_key", *_key_columns(not with_owner))
    rows = [dict(r) for r in bind.execute(sa.select(old)).mappings()]
    op.drop_table("idempotency_key")
    pk = ("owner", "scope", "key") if with_owner else ("scope", "key")
    new = op.create_table(
        "idempotency_key", *_key_columns(with_owner), sa.PrimaryKeyConstraint(*pk)
    )
    if with_owner:
        op.create_index("ix_idempotency_key_expires_at", "idempotency_key", ["expires_at"])
        for row in rows:
            row["owner"] = row["created_by"]
            row["expires_at"] = row["created_at"] + KEPT_FOR
    else:  # one row per (scope, key): the first owner's
        seen: set[tuple[str, str]] = set()
        kept = []
        for row in rows:
            if (row["scope"], row["key"]) not in seen:
                seen.add((row["scope"], row["key"]))
                kept.append({k: v for k, v in row.items() if k not in ("owner", "expires_at")})
        rows = kept
    if rows:
        op.bulk_insert(new, rows)


def upgrade() -> None:
    _rebuild_keys(with_owner=True)
    op.create_table(
        "campaign_start",
        sa.Column("batch_id", sa.String(length=200), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.String(length=200), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("started_at", UTC_DT, nullable=False),
        sa.PrimaryKeyConstraint("batch_id", "slot"),
        sa.UniqueConstraint("batch_id", "customer_id"),
    )


def downgrade() -> None:
    op.drop_table("campaign_start")
    op.drop_index("ix_idempotency_key_expires_at", table_name="idempotency_key")
    _rebuild_keys(with_owner=False)
