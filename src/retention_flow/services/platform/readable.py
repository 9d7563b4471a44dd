"""Stored values read for display, whatever a row holds.

The doors and the JSON encoder keep bad values out, but rows written before the rule
or behind the application's back (a database administrator, a restore) may still hold
an array where an object belongs, ``null`` where a list belongs, or a number no JSON
parser reads. Views go through these functions so one odd row shows oddly instead of
answering 500 to every user; ``retention-flow doctor`` finds and repairs such rows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, TypeGuard

from retention_flow.db.models import AuditEvent

#: the key under which a stored non-object value is shown where an object belongs
WRAPPED = "value"


def as_object(value: Any) -> dict[str, Any]:
    """An object column's value as an object (``{}`` for null, other values wrapped)."""
    if isinstance(value, dict):
        return value
    return {} if value is None else {WRAPPED: value}


def as_optional_object(value: Any) -> dict[str, Any] | None:
    return None if value is None else as_object(value)


def names(value: Any) -> list[str]:
    """A list-of-names column: anything else reads as the names it holds (or none)."""
    if not isinstance(value, list):
        return []
    return [v for v in value if isinstance(v, str)]


def objects(value: Any) -> list[dict[str, Any]]:
    """A list-of-objects column (scan page fields): the objects it holds."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def is_box(value: Any) -> TypeGuard[list[float]]:
    """Four finite pixel coordinates (a field's box on a page)."""
    return (
        isinstance(value, list)
        and len(value) == 4
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        and all(math.isfinite(v) and abs(v) < 1e6 for v in value)
    )


def finite(value: Any, default: float = 0.0) -> float:
    """A float column: NaN or an infinity (PostgreSQL ``double`` holds them) reads as
    ``default``."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return default


def audit_event(event: AuditEvent) -> AuditEvent:
    """The event for display: its data and detail as objects (a copy when changed, so
    the hash check still sees what is stored)."""
    fields = ("data_before", "data_after", "detail")
    if all(isinstance(getattr(event, f), dict | type(None)) for f in fields):
        return event
    values: dict[str, Any] = {c: getattr(event, c) for c in AuditEvent.model_fields}
    for f in fields:
        values[f] = as_optional_object(values[f])
    return AuditEvent.model_construct(**values)


def partner_row(row: Mapping[Any, Any]) -> dict[str, Any]:
    """A partner row with every field of the type the contract promises."""
    out = dict(row)
    out["products"] = names(row.get("products"))
    out["regions"] = names(row.get("regions"))
    out["quality"] = min(1.0, max(0.0, finite(row.get("quality"))))
    out["min_share"] = min(1.0, max(0.0, finite(row.get("min_share"))))
    for key in ("capacity_per_period", "cost_per_lead_cents", "commission_cents"):
        out[key] = max(0, int(row.get(key) or 0))
    return out
