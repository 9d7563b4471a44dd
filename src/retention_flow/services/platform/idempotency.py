"""Idempotency keys for requests that are not idempotent by nature (starting a case,
delivering a message), after the IETF "Idempotency-Key HTTP Header Field" draft.

A key belongs to the user who sent it and to one operation (``scope``): another user's
equal key, or the same user's key on another operation, is another request. A key is
reserved first (a committed ``pending`` row), then the work runs and records its answer
*in its own transaction* through the ``record`` callback it is given, so the work and the
answer commit together or not at all:

* a repeat of a finished request gets the first answer again (``Answer.replayed``),
  never a second effect;
* the same key with a different request is ``IdempotencyKeyReused`` (422);
* a repeat while the first is still running is ``IdempotencyKeyInFlight`` (409);
* a request that fails stores nothing: its reservation is removed and the key can be
  sent again;
* an answer is kept for ``settings.idempotency_ttl_hours``; after that the key is free
  and the same key is a new request (the worker removes expired rows);
* a reservation left ``pending`` by a request that died (its work never committed,
  since the answer commits with it) is taken over once it is older than
  ``settings.idempotency_pending_seconds``. If the first request was only slow and not
  dead, its own ``record`` then finds the reservation taken and rolls its work back:
  the work is applied once either way.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from retention_flow.core.errors import Conflict, IdempotencyKeyInFlight, IdempotencyKeyReused
from retention_flow.db.session import read_session, write_session
from retention_flow.db.tables import IDEMPOTENCY_KEY
from retention_flow.services.platform.context import Actor, AppContext

#: ``record(session, answer)``: store the answer in the work's own transaction
Record = Callable[[Session, dict[str, Any]], None]

KEY = IDEMPOTENCY_KEY


@dataclass(frozen=True)
class Answer:
    """What an idempotent request answers: the body, and whether it is the stored answer
    of an earlier request with the same key (a replay) rather than a new one."""

    body: dict[str, Any]
    replayed: bool = False


def fingerprint(payload: Any) -> str:
    return hashlib.sha256(
        json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str).encode()
    ).hexdigest()


def idempotent(
    ctx: AppContext,
    actor: Actor,
    scope: str,
    key: str | None,
    request: Any,
    run: Callable[[Record | None], dict[str, Any]],
) -> Answer:
    """Run ``run(record)`` once per (user, scope, key); see the module docstring.

    ``run`` must call ``record(session, answer)`` inside the transaction that does the
    work, before it commits. Without a key, ``run(None)`` runs as it is.
    """
    if key is None:
        return Answer(run(None))
    digest = fingerprint(request)
    where = and_(KEY.c.owner == actor.username, KEY.c.scope == scope, KEY.c.key == key)
    reserved_at = ctx.now()
    stored = _reserve(ctx, actor, scope, key, digest, where, reserved_at)
    if stored is not None:
        return Answer(stored, replayed=True)

    mine = and_(where, KEY.c.state == "pending", KEY.c.created_at == reserved_at)
    ttl = timedelta(hours=ctx.settings.idempotency_ttl_hours)

    def record(session: Session, result: dict[str, Any]) -> None:
        done = session.execute(
            update(KEY)
            .where(mine)
            .values(state="done", response=result, expires_at=ctx.now() + ttl)
        )
        if done.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict(
                f"idempotency key '{key}' was taken over by a retry; this attempt is undone"
            )

    try:
        return Answer(run(record))
    except BaseException:
        with write_session(ctx.db) as session:  # free the key for a retry
            session.execute(delete(KEY).where(mine))
            session.commit()
        raise


def _reserve(
    ctx: AppContext,
    actor: Actor,
    scope: str,
    key: str,
    digest: str,
    where: Any,
    reserved_at: datetime,
) -> dict[str, Any] | None:
    """Reserve the key at ``reserved_at``; answers the stored answer of a finished request,
    None when the caller now holds the reservation (new, expired, or taken over)."""
    ttl = timedelta(hours=ctx.settings.idempotency_ttl_hours)
    for _attempt in range(4):
        try:
            with write_session(ctx.db) as session:
                session.execute(
                    insert(KEY).values(
                        owner=actor.username,
                        scope=scope,
                        key=key,
                        fingerprint=digest,
                        state="pending",
                        response=None,
                        created_by=actor.username,
                        created_at=reserved_at,
                        expires_at=reserved_at + ttl,
                    )
                )
                session.commit()
            return None
        except IntegrityError:
            pass
        with read_session(ctx.db) as session:
            row = session.execute(select(KEY).where(where)).mappings().first()
        if row is None:  # removed meanwhile (that attempt failed): reserve again
            continue
        if row["expires_at"] <= reserved_at:  # kept long enough: the key is free again
            with write_session(ctx.db) as session:
                session.execute(delete(KEY).where(where).where(KEY.c.expires_at <= reserved_at))
                session.commit()
            continue
        if row["fingerprint"] != digest:
            raise IdempotencyKeyReused(
                f"idempotency key '{key}' was already used for a different request",
                errors=[{"field": "Idempotency-Key", "message": "used for a different request"}],
            )
        if row["state"] == "done":
            return dict(row["response"])
        stale = timedelta(seconds=ctx.settings.idempotency_pending_seconds)
        if row["created_at"] > reserved_at - stale:
            raise IdempotencyKeyInFlight(
                f"a request with idempotency key '{key}' is still running; send it again "
                "once it has finished"
            )
        with write_session(ctx.db) as session:  # abandoned: take it over, once
            taken = session.execute(
                update(KEY)
                .where(and_(where, KEY.c.state == "pending"))
                .where(KEY.c.created_at == row["created_at"])
                .values(created_at=reserved_at, created_by=actor.username)
            )
            session.commit()
        if taken.rowcount == 1:  # type: ignore[attr-defined]
            return None
    raise IdempotencyKeyInFlight(f"a request with idempotency key '{key}' is still running")


def purge_expired(ctx: AppContext) -> int:
    """Remove the keys whose answers are past their time (the worker does, once a minute)."""
    with write_session(ctx.db) as session:
        gone = session.execute(delete(KEY).where(KEY.c.expires_at <= ctx.now()))
        session.commit()
    return int(gone.rowcount or 0)  # type: ignore[attr-defined]
