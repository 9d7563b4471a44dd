"""Access tokens: signed (HS256), expiring JWTs naming the user and its token version.

Time comes from the context's clock (so tests can expire a token by moving the clock);
a token is accepted only while its user exists, is enabled and is still at the token
version the token was issued under (``users.active_actor``).
"""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from typing import Any

import jwt

from ..core.errors import AuthenticationFailed
from .context import Actor, AppContext
from .users import active_actor, authenticate

ALGORITHM = "HS256"
ISSUER = "retention-flow"


def issue_token(
    ctx: AppContext, username: str, token_version: int, ttl_minutes: int | None = None
) -> dict[str, Any]:
    """A signed token; ``ttl_minutes`` defaults to the API token lifetime (the web UI's
    session cookie passes its own)."""
    now = ctx.now()
    ttl = timedelta(minutes=ttl_minutes or ctx.settings.token_ttl_minutes)
    claims = {
        "sub": username,
        "ver": token_version,
        "iss": ISSUER,
        "iat": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
    }
    token = jwt.encode(claims, ctx.settings.secret_key, algorithm=ALGORITHM)
    return {"access_token": token, "token_type": "bearer", "expires_in": int(ttl.total_seconds())}


def login(
    ctx: AppContext, username: str, password: str, ttl_minutes: int | None = None
) -> dict[str, Any]:
    user = authenticate(ctx, username, password)
    return issue_token(ctx, user.username, user.token_version, ttl_minutes)


@lru_cache(maxsize=8192)
def _verified_claims(secret: str, token: str) -> tuple[str, int, int]:
    """(sub, ver, exp) of a token whose signature and issuer check out.

    A pure function of the token and the secret, so its answers are remembered: an agent
    sends the same token with every request, and checking the signature and decoding the
    claims cost more than the rest of the authentication. Failures are not remembered
    (they raise). Expiry and the user's state are checked on every request by the caller.
    """
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            # expiry is checked against the context clock by the caller
            options={"verify_exp": False, "verify_iat": False, "require": ["sub", "ver", "exp"]},
        )
    except jwt.PyJWTError as exc:
        raise AuthenticationFailed(f"invalid token: {exc}") from exc
    exp, ver, sub = claims.get("exp"), claims.get("ver"), claims.get("sub")
    if not isinstance(exp, int) or not isinstance(ver, int) or not isinstance(sub, str):
        raise AuthenticationFailed("invalid token claims")
    return sub, ver, exp


def actor_for_token(ctx: AppContext, token: str) -> Actor:
    sub, ver, exp = _verified_claims(ctx.settings.secret_key, token)
    if exp <= ctx.now().timestamp():
        raise AuthenticationFailed("the token has expired; log in again")
    return active_actor(ctx, sub, ver)
