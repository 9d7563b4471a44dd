"""Checks for corrections of case data (``PATCH /api/cases/{id}/data``, incident retries).

A correction is a JSON merge patch (RFC 7396). A top-level key that a form of the case's
bundle declares must, after the merge, be valid against that declaration (type, enum,
bounds; when several forms declare it, against at least one of them): ``tenure_months``
declared ``integer`` cannot become ``"twelve"``. Keys no form declares are allowed:
case data also holds what scripts, decisions and messages set (a divisor a script
needs, a DMN result), and those are exactly what an incident's correction touches.
Removing a key (``null``) is always allowed.
"""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator

from retention_flow.core import strict_json
from retention_flow.core.errors import ValidationFailed
from retention_flow.engine.bundle import CompiledBundle
from retention_flow.engine.data_patch import merge_patch

MAX_REASON = 2000


def require_reason(reason: str | None, field: str = "reason") -> str:
    text = (reason or "").strip()
    if not text:
        raise ValidationFailed(
            "a reason is required", errors=[{"field": field, "message": "required"}]
        )
    if len(text) > MAX_REASON:
        raise ValidationFailed(
            f"the reason is longer than {MAX_REASON} characters",
            errors=[{"field": field, "message": "too long"}],
        )
    return text


def declared_fields(bundle: CompiledBundle) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """Field name -> [(form file, the property's schema)] over the bundle's user tasks."""
    out: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    seen: set[str] = set()
    for meta in bundle.user_tasks.values():
        if not meta.form_file or meta.form_file in seen or not meta.form_schema:
            continue
        seen.add(meta.form_file)
        properties = meta.form_schema.get("properties") or {}
        for name, schema in properties.items():
            if isinstance(schema, dict):
                out.setdefault(name, []).append((meta.form_file, schema))
    return out


def check_data_patch(bundle: CompiledBundle, data: dict[str, Any], patch: Any) -> dict[str, Any]:
    """The patch, if it is a JSON object whose result fits the forms' declarations."""
    if not isinstance(patch, dict):
        raise ValidationFailed(
            "the patch must be a JSON object (a JSON merge patch of the case data)",
            errors=[{"field": "patch", "message": "must be an object"}],
        )
    if not patch:
        raise ValidationFailed(
            "the patch is empty", errors=[{"field": "patch", "message": "empty"}]
        )
    strict_json.check(patch, "patch")  # interoperable JSON only (422 naming the path)
    declared = declared_fields(bundle)
    errors: list[dict[str, str]] = []
    for key, change in patch.items():
        if change is None or key not in declared:
            continue
        value = merge_patch(data.get(key), change)
        problems = [
            (form, error.message)
            for form, schema in declared[key]
            for error in [next(Draft202012Validator(schema).iter_errors(value), None)]
            if error is not None
        ]
        if len(problems) == len(declared[key]):  # valid for no form that declares it
            form, message = problems[0]
            errors.append({"field": key, "message": f"{message} (as declared by {form})"})
    if errors:
        first = errors[0]
        raise ValidationFailed(
            f"the patch does not fit the forms: {first['field']}: {first['message']}",
            errors=errors,
        )
    return patch
