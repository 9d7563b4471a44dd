"""What a partner's fields may hold, whoever writes them (API, CLI, pages).

A stored partner must be readable by every list and allocation: ``products: null`` once
answered 500 on every partner list. Every field is checked for its type and range; only
the contract-age bounds may be ``null``.
"""

from __future__ import annotations

from typing import Any

from retention_flow.core.errors import ValidationFailed
from retention_flow.core.text_rules import bad_character

_MAX_INT = 2**31 - 1
_NULLABLE = frozenset({"min_contract_age_months", "max_contract_age_months"})


def _field_problem(name: str, value: Any) -> str | None:
    """Why ``value`` cannot be partner field ``name`` (``None`` when it can)."""
    if value is None:
        return None if name in _NULLABLE else "must not be null"
    if name == "name":
        if not isinstance(value, str) or not 1 <= len(value.strip()) <= 200:
            return "must be a text of 1-200 characters"
        bad = bad_character(value)
        return f"contains a {bad}" if bad else None
    if name in ("capacity_per_period", "cost_per_lead_cents", "commission_cents"):
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= _MAX_INT:
            return "must be a whole number >= 0"
    elif name in _NULLABLE:
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 1200:
            return "must be a whole number of months, 0-1200, or null"
    elif name in ("quality", "min_share"):
        if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 1:
            return "must be between 0 and 1"
    elif name == "active":
        if not isinstance(value, bool):
            return "must be true or false"
    elif name in ("products", "regions"):
        if not isinstance(value, list) or len(value) > 50:
            return "must be a list of at most 50 names"
        if not all(isinstance(v, str) and 1 <= len(v) <= 40 for v in value):
            return "must hold names of 1-40 characters"
        bad = next((found for v in value if (found := bad_character(v))), None)
        return f"a name contains a {bad}" if bad else None
    return None


def validate_partner(values: dict[str, Any]) -> None:
    """Every field, whoever sends it (API, CLI, pages): a stored partner must be readable
    by every list and allocation (``products: null`` once broke them all)."""
    errors = []
    for name, value in values.items():
        problem = _field_problem(name, value)
        if problem:
            errors.append({"field": name, "message": problem})
    low, high = values.get("min_contract_age_months"), values.get("max_contract_age_months")
    if not errors and low is not None and high is not None and low > high:
        errors.append({"field": "max_contract_age_months", "message": "is below the minimum"})
    if errors:
        first = errors[0]
        raise ValidationFailed(f"{first['field']}: {first['message']}", errors=errors)
