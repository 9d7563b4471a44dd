"""Self-service links: signed, written with the letter that prints them.

A link is ``<self_service_base_url>/s/<link id>.<signature>``: the link id is 96 random
bits, the signature an HMAC-SHA256 (cut to 72 bits) under a key derived from the
service's secret key, so a token cannot be made or altered without the key and a forged
one is refused before the database is asked. The row written here names the one case it
answers and its expiry; ``services/outreach/self_service.py`` serves the page behind it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from sqlalchemy import Connection, insert

from retention_flow.core.config import Settings
from retention_flow.db.tables import SELF_SERVICE_LINK


def _key(settings: Settings) -> bytes:
    return hmac.new(settings.secret_key.encode(), b"self-service-link", hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _signature(settings: Settings, link_id: str) -> str:
    return _b64(hmac.new(_key(settings), link_id.encode(), hashlib.sha256).digest()[:9])


def make_token(settings: Settings, link_id: str) -> str:
    """``<link id>.<signature>``: short enough to type from a letter (28 characters)."""
    return f"{link_id}.{_signature(settings, link_id)}"


def signed_link_id(settings: Settings, token: str) -> str | None:
    """The link id a token names if its signature holds, else None (the link row says
    the case, the expiry and whether it was used)."""
    link_id, _, signature = token.strip().partition(".")
    if len(token) > 64 or not link_id:
        return None
    expected = _signature(settings, link_id).encode()
    return link_id if hmac.compare_digest(signature.encode(), expected) else None


def issue_link(
    settings: Settings, conn: Connection, case_id: str, letter_id: str, now: datetime
) -> str:
    """Write a link for the letter (in the caller's transaction); returns its address."""
    link_id = _b64(secrets.token_bytes(12))  # 96 random bits, 16 characters
    expires = now + timedelta(days=settings.self_service_link_days)
    conn.execute(
        insert(SELF_SERVICE_LINK).values(
            id=link_id, case_id=case_id, letter_id=letter_id, created_at=now, expires_at=expires
        )
    )
    base = settings.self_service_base_url.rstrip("/")
    return f"{base}/s/{make_token(settings, link_id)}"
