"""The typed answers of operating the audit seals: the keys an auditor needs, a key file
created or rotated, heads sealed after an upgrade, a checkpoint line written."""

from __future__ import annotations

from typing import Any

from retention_flow.services.platform.view import View


class AuditKeysView(View):
    """The seal key ids and the checkpoint signing keys' public halves (Ed25519, raw,
    base64)."""

    seal_active: str
    seal_key_ids: list[str]
    sign_active: str
    signing_public_keys: dict[str, str]


class KeyFileView(AuditKeysView):
    """The key file rotated: its path and the keys it now holds."""

    file: str


class NewKeyFileView(KeyFileView):
    """The key file asked for: whether it was created (False: it was there already)."""

    created: bool


class SealedExistingView(View):
    """Heads sealed after an upgrade, and the findings of those left unsealed (the first
    ``MAX_PROBLEMS``; ``refused_count`` all of them)."""

    sealed: int
    refused: list[dict[str, Any]]
    refused_count: int


class CheckpointWritten(View):
    """One signed checkpoint line appended: its number and time, the heads it recorded,
    and the streams whose head moved back, whose seal fails or that have none."""

    file: str
    n: int
    at: str
    full: bool
    heads_written: int
    streams: int
    key_id: str
    moved_back: list[str]
    bad_seals: list[str]
    unsealed: int


__all__ = [
    "AuditKeysView",
    "CheckpointWritten",
    "KeyFileView",
    "NewKeyFileView",
    "SealedExistingView",
]
