"""A long history from a short one, inside the database: the ended cases of a loaded
block (and their work items, case keys and audit events) copied again and again, each
copy shifted a block's length further into the past, with new ids, business keys and
customer keys. ``bench/kpis.py --replicate-from N`` loads N cases row by row and copies
the rest, so a 1,000,000-case history costs the database's own copying time instead of
Python's per row (on a shared machine the difference between minutes and hours).

The copies leave the block's still-open cases out (their work would be a backlog that
never ends), so every block of the history has a short gap where the block's last days
were; the newest block, the one every 30-day window reads, is the loaded one, unchanged.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, text

#: timestamp columns moved into the past with their row
SHIFTED = {
    "case": ("created_at", "updated_at", "ended_at"),
    "work_item": (
        "created_at",
        "ended_at",
        "due_at",
        "claimed_at",
        "work_started_at",
        "first_worked_at",
    ),
    "audit_event": ("at",),
    "case_key": (),
}
#: id columns of the copied case (the copy's ids start with ``r`` and the copy's number)
IDS = {
    "case": ("id",),
    "work_item": ("id", "case_id"),
    "audit_event": ("stream", "case_id", "task_id"),
    "case_key": ("case_id",),
}
SUFFIXED = {"case": ("business_key",), "work_item": ("business_key",), "case_key": ("value",)}


def _shift(dialect: str, column: str, days: int) -> str:
    if dialect == "postgresql":
        return f"\"{column}\" - interval '{days} days'"
    # whole days: the stored fraction of a second stays as it was
    return (
        f"strftime('%Y-%m-%d %H:%M:%S', \"{column}\", '-{days} days') || substr(\"{column}\", 20)"
    )


def _select(dialect: str, name: str, table: Table, copy: int, days: int) -> tuple[str, str]:
    """(column list, select list) of one copy of a table."""
    columns, values = [], []
    for column in table.columns:
        if name == "audit_event" and column.name == "id":
            continue  # a new serial id
        quoted = f'"{column.name}"'
        columns.append(quoted)
        if column.name in SHIFTED[name]:
            values.append(_shift(dialect, column.name, days))
        elif column.name in IDS[name]:
            values.append(f"'r{copy:x}' || substr({quoted}, 3)")
        elif column.name in SUFFIXED.get(name, ()):
            values.append(f"{quoted} || '#{copy}'")
        else:
            values.append(quoted)
    return ", ".join(columns), ", ".join(values)


def replicate(conn: Any, tables: dict[str, Table], block_days: int, missing: int) -> int:
    """Copy the ended cases of the loaded block until ``missing`` more cases exist (the
    last copy: the newest ended cases that fill it up); the number of cases copied."""
    dialect = conn.dialect.name
    ended = "status = 'completed' AND id NOT LIKE 'r%'"
    per_copy = conn.execute(text(f'SELECT count(*) FROM "case" WHERE {ended}')).scalar_one()
    copied, copy = 0, 1
    while copied < missing and per_copy:
        take = min(per_copy, missing - copied)
        chosen = ended
        if take < per_copy:  # the newest ``take`` ended cases
            cutoff = conn.execute(
                text(
                    f'SELECT created_at FROM "case" WHERE {ended} '
                    f"ORDER BY created_at DESC LIMIT 1 OFFSET {take - 1}"
                )
            ).scalar_one()
            chosen = f"{ended} AND created_at >= :cutoff"
        params = {"cutoff": cutoff} if take < per_copy else {}
        of_chosen = f'case_id IN (SELECT id FROM "case" WHERE {chosen})'
        for name in ("case", "work_item", "case_key", "audit_event"):
            columns, values = _select(dialect, name, tables[name], copy, block_days * copy)
            where = chosen if name == "case" else of_chosen
            conn.execute(
                text(
                    f'INSERT INTO "{name}" ({columns}) SELECT {values} FROM "{name}" WHERE {where}'
                ),
                params,
            )
        copied += take
        copy += 1
    return copied
