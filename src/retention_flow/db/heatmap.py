"""Tables of the heatmap's rollup (services/insight/heatmap_rollup.py, read by
services/insight/heatmap_fast.py).

- ``heatmap_rollup``: per process version, kind of mark, element or flow (``key``) and
  hour of the audit event (hours since 1970-01-01 UTC), a count ``n`` split by ``sub``:
  the hour of the same case's previous mark of that kind and key (-1: none; what makes
  distinct-case counts exact over any range of whole hours), or for waits the histogram
  bucket of the wait. Additive: a case's share is added, and subtracted when it is
  rolled up again.
- ``heatmap_case``: the version each rolled-up case was counted under (a migrated case
  moves to its new version when it is rolled up again).
- ``heatmap_breach``: the work items counted as SLA breaches (ended after their due time)
  when their case was rolled up, so that exactly those are subtracted again.
- ``heatmap_watermark``: one row; every audit event with an id up to ``last_event_id``
  is in the rollup, none after it. Workers lock it to roll up one at a time.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column
from sqlmodel import Field, SQLModel

from .types import UTCDateTime


class HeatmapRollup(SQLModel, table=True):
    """Counts of one kind of mark per process version, key, hour and sub-bucket."""

    __tablename__ = "heatmap_rollup"

    process_id: str = Field(primary_key=True, max_length=200)
    process_version: int = Field(primary_key=True)
    kind: str = Field(primary_key=True, max_length=12)
    key: str = Field(primary_key=True, max_length=200)
    hour: int = Field(primary_key=True)
    sub: int = Field(primary_key=True)
    n: int = Field(sa_column=Column(BigInteger, nullable=False))


class HeatmapCase(SQLModel, table=True):
    """The process version a case was counted under in ``heatmap_rollup``."""

    __tablename__ = "heatmap_case"

    case_id: str = Field(primary_key=True, max_length=36)
    process_id: str = Field(max_length=200)
    process_version: int


class HeatmapBreach(SQLModel, table=True):
    """A work item counted as an SLA breach in ``heatmap_rollup``."""

    __tablename__ = "heatmap_breach"

    task_id: str = Field(primary_key=True, max_length=36)
    case_id: str = Field(max_length=36, index=True)


class HeatmapWatermark(SQLModel, table=True):
    """The last audit event id rolled up (one row, ``name`` = ``heatmap``)."""

    __tablename__ = "heatmap_watermark"

    name: str = Field(primary_key=True, max_length=40)
    last_event_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    updated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
