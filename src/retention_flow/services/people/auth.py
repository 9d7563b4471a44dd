"""Access tokens: signed (HS256), expiring JWTs naming the user and its token version.

Time comes from the context's clock (so tests can expire a token by moving the clock);
a token is accepted only while its user exists, is enabled and is still at the token
version the token was issued under (``users.active_actor``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import jwt
from sqlalchemy import bindparam, delete, insert, select
from sqlalchemy.exc import IntegrityError

from retention_flow.core.errors import AuthenticationFailed
from retention_flow.db.session import read_session, write_session
from retention_flow.db.tables import REVOKED_TOKEN
from retention_flow.services.people import login_throttle
from retention_flow.services.people.users import active_actor, authenticate
from retention_flow.services.platform.context import Actor, AppContext

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
    ctx: AppContext,
    username: str,
    password: str,
    ttl_minutes: int | None = None,
    client: str | None = None,
) -> dict[str, Any]:
    """A token for these credentials, throttled per user name and ``client`` address
    (``login_throttle``): ``AuthenticationFailed`` for wrong credentials,
    ``TooManyAttempts`` while this address must wait (the password is then not checked).
    """
    admission = login_throttle.admit(ctx, username, client)  # counted before the check
    try:
        user = authenticate(ctx, username, password)
    except AuthenticationFailed:
        login_throttle.refuse(admission)  # raises when this failure starts a wait
        raise
    login_throttle.clear(ctx, username, client)
    return issue_token(ctx, user.username, user.token_version, ttl_minutes)


#: Bounds of a believable time claim (seconds since 1970): up to the end of year 9999, the
#: last instant a ``datetime`` holds. A signed token outside them was not issued by us.
MAX_TIMESTAMP = 253_402_300_799
#: The longest token id we accept (ours are 32 hex digits; the revocation column holds 64).
MAX_JTI_LENGTH = 64
#: The longest user name (``app_user.username``).
MAX_SUB_LENGTH = 200


@dataclass(frozen=True)
class Claims:
    """What a token says, once its signature, issuer and claim types check out."""

    sub: str
    ver: int
    exp: int
    jti: str | None
    nbf: int | None


def _time_claim(claims: dict[str, Any], name: str) -> int:
    value = claims.get(name)
    # bool is an int in Python; floats (1e20, inf, nan) are not what we issue
    if not isinstance(value, int) or isinstance(value, bool):
        raise AuthenticationFailed(f"invalid token: the '{name}' claim is not a whole number")
    if not 0 <= value <= MAX_TIMESTAMP:
        raise AuthenticationFailed(f"invalid token: the '{name}' claim is out of range")
    return value


@lru_cache(maxsize=8192)
def _verified_claims(secret: str, token: str) -> Claims:
    """The claims of a token whose signature and issuer check out.

    A pure function of the token and the secret, so its answers are remembered: an agent
    sends the same token with every request, and checking the signature and decoding the
    claims cost more than the rest of the authentication. Failures are not remembered
    (they raise). Expiry and the user's state are checked on every request by the caller.
    Any claim of the wrong type or out of range (``exp`` of 10^20, a text ``iat``, a
    1 KB ``jti``, no ``sub``) is ``AuthenticationFailed``: it must not reach code that
    turns it into a date or stores it.
    """
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            # times are checked here for type and range, against the context clock by the
            # caller (PyJWT would read the wall clock)
            options={
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
                "require": ["sub", "ver", "exp"],
            },
        )
    except jwt.PyJWTError as exc:
        raise AuthenticationFailed(f"invalid token: {exc}") from exc
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise AuthenticationFailed("invalid token: unreadable claims") from exc
    exp = _time_claim(claims, "exp")
    if "iat" in claims:
        _time_claim(claims, "iat")
    nbf = _time_claim(claims, "nbf") if "nbf" in claims else None
    ver, sub, jti = claims.get("ver"), claims.get("sub"), claims.get("jti")
    if not isinstance(ver, int) or isinstance(ver, bool) or not 0 < ver < 2**31:
        raise AuthenticationFailed("invalid token: the 'ver' claim is not a token version")
    if not isinstance(sub, str) or not 0 < len(sub) <= MAX_SUB_LENGTH:
        raise AuthenticationFailed("invalid token: the 'sub' claim is not a user name")
    if jti is not None and (not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI_LENGTH):
        raise AuthenticationFailed("invalid token: the 'jti' claim is not a token id")
    return Claims(sub, ver, exp, jti, nbf)


def actor_for_token(ctx: AppContext, token: str) -> Actor:
    claims = _verified_claims(ctx.settings.secret_key, token)
    now = ctx.now().timestamp()
    if claims.exp <= now:
        raise AuthenticationFailed("the token has expired; log in again")
    if claims.nbf is not None and claims.nbf > now:
        raise AuthenticationFailed("the token is not valid yet")
    if claims.jti is not None and _is_revoked(ctx, claims.jti):
        raise AuthenticationFailed("this session was logged out; log in again")
    return active_actor(ctx, claims.sub, claims.ver)


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
    claims = _verified_claims(ctx.settings.secret_key, token)
    sub, exp, jti = claims.sub, claims.exp, claims.jti
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
