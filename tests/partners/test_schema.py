"""Migration 0005 builds exactly the partner tables the models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine
from sqlmodel import SQLModel

import retention_flow.db.channels
import retention_flow.db.models
import retention_flow.db.partners  # noqa: F401  (register every table)


def test_partner_tables_match_the_migration(engine: Engine) -> None:
    assert {"partner_org", "lead_allocation", "settlement_statement", "settlement_entry"} <= set(
        SQLModel.metadata.tables
    )
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": False})
        diff = compare_metadata(context, SQLModel.metadata)
    assert diff == [], diff
