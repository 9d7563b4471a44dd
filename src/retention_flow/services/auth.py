"""Access tokens: signed (HS256), expiring JWTs naming the user and its token version.

Time comes from the context's clock (so tests can expire a token by moving the clock);
a token is accepted only while its user exists, is enabled and is still at the token
version the token was issued under (``users.active_actor``).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import jwt
from sqlalchemy import bindparam, delete, insert, select
from sqlalchemy.exc import IntegrityError

from ..core.errors import AuthenticationFailed
from ..db.session import read_session, write_session
from ..db.tables import REVOKED_TOKEN
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
        "jti": uuid.uuid4().hex,  # names this token, so a logout can end it alone
    }
    token = jwt.encode(claims, ctx.settings.secret_key, algorithm=ALGORITHM)
    return {"access_token": token, "token_type": "bearer", "expires_in": int(ttl.total_seconds())}


def login(
    ctx: AppContext, username: str, password: str, ttl_minutes: int | None = None
) -> dict[str, Any]:
    user = authenticate(ctx, username, password)
    return issue_token(ctx, user.username, user.token_version, ttl_minutes)


@lru_cache(maxsize=8192)
def _verified_claims(secret: str, token: str) -> tuple[str, int, int, str | None]:
    """(sub, ver, exp, jti) of a token whose signature and issuer check out.

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
    exp, ver, sub, jti = claims.get("exp"), claims.get("ver"), claims.get("sub"), claims.get("jti")
    if not isinstance(exp, int) or not isinstance(ver, int) or not isinstance(sub, str):
        raise AuthenticationFailed("invalid token claims")
    return sub, ver, exp, jti if isinstance(jti, str) else None


def actor_for_token(ctx: AppContext, token: str) -> Actor:
    sub, ver, exp, jti = _verified_claims(ctx.settings.secret_key, token)
    if exp <= ctx.now().timestamp():
        raise AuthenticationFailed("the token has expired; log in again")
    if jti is not None and _is_revoked(ctx, jti):
        raise AuthenticationFailed("this session was logged out; log in again")
    return active_actor(ctx, sub, ver)


_SELECT_REVOKED = select(REVOKED_TOKEN.c.jti).where(REVOKED_TOKEN.c.jti == bindparam("b_jti"))


def _is_revoked(ctx: AppContext, jti: str) -> bool:
    cache = ctx.revocations
    if cache.known_revoked(jti):
        return True
    if cache.known_clear(jti):
        return False
    with read_session(ctx.db) as session:
        found = session.connection().execute(_SELECT_REVOKED, {"b_jti": jti}).first()
    if found is not None:
        cache.revoked(jti)
        return True
    cache.clear(jti)
    return False


def revoke(ctx: AppContext, token: str) -> None:
    """End one token before its expiry (logout); the user's other sessions go on.

    Rows are kept until the token would have expired anyway; expired ones are removed
    here. Revoking twice, or a token issued before tokens carried an id, is harmless.
    """
    sub, _ver, exp, jti = _verified_claims(ctx.settings.secret_key, token)
    if jti is None:
        return
    now = ctx.now()
    try:
        with write_session(ctx.db) as session:
            session.execute(delete(REVOKED_TOKEN).where(REVOKED_TOKEN.c.expires_at < now))
            exists = session.connection().execute(_SELECT_REVOKED, {"b_jti": jti}).first()
            if exists is None:
                session.execute(
                    insert(REVOKED_TOKEN).values(
                        jti=jti,
                        username=sub,
                        expires_at=datetime.fromtimestamp(exp, UTC),
                        revoked_at=now,
                    )
                )
            session.commit()
    except IntegrityError:
        pass  # revoked by a concurrent logout of the same token
    ctx.revocations.revoked(jti)
