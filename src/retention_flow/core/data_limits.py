"""Limits on case data: what a request may send and what a step may leave behind.

Every step walks, copies, diffs and stores a case's data, so its cost follows the data's
size; bounding the data at the door bounds the step. Four limits (settings
``RETENTION_FLOW_CASE_DATA_MAX_*``): the JSON encoding's bytes and the number of object
members plus array items (413 ``payload_too_large``), the nesting depth and the length
of one string (422 ``validation_failed``). Each refusal names the limit and the path.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from . import strict_json
from .config import Settings
from .errors import PayloadTooLarge, ValidationFailed


class CaseDataTooLarge(PayloadTooLarge):
    code = "case_data_too_large"
    title = "Case data too large"


@dataclass(frozen=True)
class DataLimits:
    max_bytes: int = 256 * 1024
    max_keys: int = 2000
    max_depth: int = 16
    max_string: int = 32_768

    @classmethod
    def of(cls, settings: Settings) -> DataLimits:
        return cls(
            settings.case_data_max_bytes,
            settings.case_data_max_keys,
            settings.case_data_max_depth,
            settings.case_data_max_string,
        )


def _refuse(
    cls: type[ValidationFailed | PayloadTooLarge], field: str, text: str, limit: str
) -> Any:
    raise cls(f"{field}: {text}", errors=[{"field": field, "message": text, "limit": limit}])


def check_limits(value: Any, limits: DataLimits, path: str = "data") -> None:
    """Refuse ``value`` when it breaks a limit; stops at the first item past one."""
    entries = 0
    stack: list[tuple[str, Any, int]] = [(path, value, 0)]
    while stack:
        where, item, depth = stack.pop()
        if isinstance(item, str):
            if len(item) > limits.max_string:
                _refuse(
                    ValidationFailed,
                    where,
                    f"string of {len(item)} characters is longer than {limits.max_string}",
                    f"RETENTION_FLOW_CASE_DATA_MAX_STRING={limits.max_string}",
                )
            continue
        if not isinstance(item, dict | list | tuple):
            continue
        if depth >= limits.max_depth:
            _refuse(
                ValidationFailed,
                where,
                f"nested deeper than {limits.max_depth} levels",
                f"RETENTION_FLOW_CASE_DATA_MAX_DEPTH={limits.max_depth}",
            )
        entries += len(item)
        if entries > limits.max_keys:
            _refuse(
                CaseDataTooLarge,
                path,
                f"more than {limits.max_keys} keys and array items",
                f"RETENTION_FLOW_CASE_DATA_MAX_KEYS={limits.max_keys}",
            )
        if isinstance(item, dict):
            for key, child in item.items():
                if isinstance(key, str) and len(key) > limits.max_string:
                    _refuse(
                        ValidationFailed,
                        where,
                        f"a key of {len(key)} characters is longer than {limits.max_string}",
                        f"RETENTION_FLOW_CASE_DATA_MAX_STRING={limits.max_string}",
                    )
                stack.append((f"{where}.{key}", child, depth + 1))
        else:
            stack.extend((f"{where}.{i}", child, depth + 1) for i, child in enumerate(item))
    size = len(json.dumps(value, default=str))
    if size > limits.max_bytes:
        _refuse(
            CaseDataTooLarge,
            path,
            f"{size} bytes of JSON is more than {limits.max_bytes}",
            f"RETENTION_FLOW_CASE_DATA_MAX_BYTES={limits.max_bytes}",
        )


def check_case_data(value: Any, limits: DataLimits, path: str = "data") -> dict[str, Any]:
    """The door for case data: a JSON object, within the limits, interoperable JSON."""
    if not isinstance(value, dict):
        raise ValidationFailed(
            f"{path} must be a JSON object",
            errors=[{"field": path, "message": "must be an object"}],
        )
    check_limits(value, limits, path)
    strict_json.check(value, path)
    return value
