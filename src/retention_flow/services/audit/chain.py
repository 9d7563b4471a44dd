"""The public arithmetic of the audit chain: ``hash = sha256(prev_hash + canonical(event))``.

Anyone can recompute it (that is the point: an auditor needs no secret to check the
links); the seals in ``audit_seal`` are what a rewrite cannot recompute.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from retention_flow.core.clock import utc_iso

GENESIS = "0" * 64
SYSTEM_STREAM = "system"

_HASHED_FIELDS = (
    "stream",
    "seq",
    "case_id",
    "type",
    "actor",
    "at",
    "element_id",
    "task_id",
    "data_before",
    "data_after",
    "detail",
)


def canonical(row: dict[str, Any]) -> bytes:
    """Sorted-key JSON of every stored field except the hashes and seals."""
    body = {k: row.get(k) for k in _HASHED_FIELDS}
    body["at"] = utc_iso(body["at"]) if isinstance(body["at"], datetime) else body["at"]
    return json.dumps(
        body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    ).encode()


def chain_hash(prev_hash: str, row: dict[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode() + canonical(row)).hexdigest()
