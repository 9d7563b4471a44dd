"""Migrations of running cases to another version of their process.

One ``case_migration`` row per request (what moves where, with which mapping, by whom
and why), one ``case_migration_item`` row per selected case. An item leaves ``pending``
in the same transaction as its case's migration step (``migrated``) or with the reason
it could not move (``failed``), so a worker that dies mid-batch leaves exactly the cases
it did not finish pending, and no case moves twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, Text
from sqlmodel import Field, SQLModel

from .types import JSONType, UTCDateTime


class CaseMigration(SQLModel, table=True):
    __tablename__ = "case_migration"

    id: str = Field(primary_key=True, max_length=36)
    process_id: str = Field(max_length=200, index=True)
    from_version: int
    to_version: int
    from_deployment_id: str = Field(max_length=36)
    to_deployment_id: str = Field(max_length=36)
    mapping: dict[str, Any] = Field(sa_column=Column(JSONType, nullable=False))
    data_defaults: dict[str, Any] = Field(sa_column=Column(JSONType, nullable=False))
    case_filter: dict[str, Any] = Field(sa_column=Column(JSONType, nullable=False))
    reason: str = Field(sa_column=Column(Text, nullable=False))
    created_by: str = Field(max_length=200)
    created_at: datetime = Field(sa_type=UTCDateTime)
    total: int = 0
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)


class CaseMigrationItem(SQLModel, table=True):
    __tablename__ = "case_migration_item"
    __table_args__ = (Index("ix_case_migration_item_status", "migration_id", "status"),)

    migration_id: str = Field(primary_key=True, foreign_key="case_migration.id", max_length=36)
    case_id: str = Field(primary_key=True, max_length=36)
    status: str = Field(default="pending", max_length=20)  # pending | migrated | failed
    error: str | None = Field(default=None, sa_column=Column(Text))
    detail: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONType))
    updated_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
