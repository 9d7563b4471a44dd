"""The signal-wait projection: which cases wait for which signal (kept by every step)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, delete, insert

from retention_flow.db import tables

SIGNAL_WAIT = tables.SIGNAL_WAIT
_DELETE = delete(SIGNAL_WAIT).where(SIGNAL_WAIT.c.case_id == bindparam("b_case"))
_INSERT = insert(SIGNAL_WAIT).inline()  # no key read back (steps send it in a pipeline)


def project_signal_waits(
    conn: Any, case_id: str, signals: list[str], before: frozenset[str] | None
) -> None:
    """Rewrite the case's rows when the signals it waits for changed (``before`` None: a
    new case, which has no rows yet)."""
    now = frozenset(signals)
    if before == now or (before is None and not now):
        return
    if before:
        conn.execute(_DELETE, {"b_case": case_id})
    if now:
        conn.execute(_INSERT, [{"name": name, "case_id": case_id} for name in sorted(now)])
