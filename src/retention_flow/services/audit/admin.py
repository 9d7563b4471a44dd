"""Operating the audit seals: verify with checkpoints, seal heads written before sealing,
create and rotate the keys, export what auditors need."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import and_, bindparam, select, update

from retention_flow.core.config import Settings
from retention_flow.core.errors import AuditKeysUnavailable, Conflict, NotFound
from retention_flow.db.session import read_session, write_session
from retention_flow.db.tables import AUDIT_EVENT, AUDIT_HEAD, CASE
from retention_flow.services.audit.chain import SYSTEM_STREAM
from retention_flow.services.audit.checkpoint import checkpoint_path, read_log
from retention_flow.services.audit.seal import HEAD, KeySet, replace_key_file, write_new_key_file
from retention_flow.services.audit.trail import NewEvent, append_system
from retention_flow.services.audit.verify import MAX_PROBLEMS, SEALED_EXISTING, verify, walk
from retention_flow.services.audit.views import (
    AuditKeysView,
    KeyFileView,
    NewKeyFileView,
    SealedExistingView,
)
from retention_flow.services.platform.context import AppContext


def verify_trail(
    ctx: AppContext, checkpoint_file: Path | None = None, *, use_checkpoints: bool = True
) -> dict[str, Any]:
    """Verify every chain with its seals, and against the checkpoints of ``checkpoint_file``
    (by default the configured file, when it exists)."""
    ctx.audit_keys.current()  # no keys, no verdict: say so before reading anything
    log = None
    if checkpoint_file is not None:
        if not checkpoint_file.is_file():
            raise NotFound(f"checkpoint file {checkpoint_file} not found")
        log = read_log(checkpoint_file, ctx.audit_keys)
    elif use_checkpoints and checkpoint_path(ctx).is_file():
        log = read_log(checkpoint_path(ctx), ctx.audit_keys)
    with read_session(ctx.db) as session:
        return verify(session, keys=ctx.audit_keys, checkpoints=log).as_dict()


_SEAL_CASE = (
    update(CASE)
    .where(
        and_(
            CASE.c.id == bindparam("b_stream"),
            CASE.c.audit_seq == bindparam("b_seq"),
            CASE.c.audit_hash == bindparam("b_hash"),
            CASE.c.audit_seal.is_(None),
        )
    )
    .values(audit_seal_key=bindparam("b_key"), audit_seal=bindparam("b_seal"))
)
_SEAL_HEAD = (
    update(AUDIT_HEAD)
    .where(
        and_(
            AUDIT_HEAD.c.stream == bindparam("b_stream"),
            AUDIT_HEAD.c.seq == bindparam("b_seq"),
            AUDIT_HEAD.c.hash == bindparam("b_hash"),
            AUDIT_HEAD.c.seal.is_(None),
        )
    )
    .values(seal_key=bindparam("b_key"), seal=bindparam("b_seal"))
)


def seal_existing(ctx: AppContext, actor: str) -> SealedExistingView:
    """Once, after upgrading a database written before sealing: seal every head that has
    none, if its chain verifies (links, hashes, and the checkpoints of the configured
    file). A head with any other finding stays unsealed and is listed. Recorded on the
    ``system`` stream; a second run is refused, so a seal removed later can never be
    laundered by running this again."""
    path = checkpoint_path(ctx)
    log = read_log(path, ctx.audit_keys) if path.is_file() else None
    keys = ctx.audit_keys.current()
    to_seal: list[dict[str, Any]] = []
    refused: list[dict[str, Any]] = []
    with read_session(ctx.db) as session:
        ran = session.execute(
            select(AUDIT_EVENT.c.at).where(
                and_(AUDIT_EVENT.c.stream == SYSTEM_STREAM, AUDIT_EVENT.c.type == SEALED_EXISTING)
            )
        ).first()
        if ran is not None:
            raise Conflict(f"audit seal-existing already ran ({ran.at}); it runs once")
        for outcome in walk(session, keys=ctx.audit_keys, checkpoints=log):
            problem = outcome.problem
            if problem is None:
                continue
            if problem.kind == "legacy_head" and outcome.head is not None:
                seq, digest = outcome.head[0], outcome.head[1]
                key_id, seal = keys.seal(HEAD, outcome.stream, seq, digest)
                to_seal.append(
                    {
                        "b_stream": outcome.stream,
                        "b_seq": seq,
                        "b_hash": digest,
                        "b_key": key_id,
                        "b_seal": seal,
                    }
                )
            else:
                refused.append(problem.as_dict())
    with write_session(ctx.db) as session:
        conn = session.connection()
        sealed = 0
        for table_rows, statement in (
            ([r for r in to_seal if r["b_stream"] != SYSTEM_STREAM], _SEAL_CASE),
            ([r for r in to_seal if r["b_stream"] == SYSTEM_STREAM], _SEAL_HEAD),
        ):
            for row in table_rows:  # one by one: each answers whether its head still matched
                sealed += conn.execute(statement, row).rowcount
        append_system(
            session,
            [NewEvent(SEALED_EXISTING, actor, detail={"sealed": sealed, "refused": len(refused)})],
            ctx.now(),
            keys,
        )
        session.commit()
    return SealedExistingView(
        sealed=sealed, refused=refused[:MAX_PROBLEMS], refused_count=len(refused)
    )


# --------------------------------------------------------------------------- keys


def init_keys(settings: Settings, now: Any) -> NewKeyFileView:
    """Create the key file (0600) if it does not exist yet."""
    if settings.audit_keys is not None:
        raise Conflict("RETENTION_FLOW_AUDIT_KEYS is set: the keys come from it, not a file")
    path = Path(settings.audit_key_file).expanduser()
    created = write_new_key_file(path, KeySet.generate(now))
    keys = KeySet.from_json(path.read_text(encoding="utf-8"), str(path))
    return NewKeyFileView(file=str(path), created=created, **_describe(keys).model_dump())


def rotate_keys(ctx: AppContext) -> KeyFileView:
    """A new active seal key and signing key in the key file; the old ones stay there to
    verify what they sealed and signed. Other processes pick the new keys up within a few
    seconds (they look at the file's modification time)."""
    if ctx.settings.audit_keys is not None:
        raise Conflict(
            "RETENTION_FLOW_AUDIT_KEYS is set: rotate by adding a key to that secret and "
            "making it active (see the README)"
        )
    path = ctx.audit_keys.path
    if not path.is_file():
        raise AuditKeysUnavailable(f"no key file at {path} to rotate")
    keys = KeySet.from_json(path.read_text(encoding="utf-8"), str(path)).rotated(ctx.now())
    replace_key_file(path, keys)
    described = _describe(ctx.audit_keys.knowing(keys.seal_active))
    return KeyFileView(file=str(path), **described.model_dump())


def public_keys(ctx: AppContext) -> AuditKeysView:
    return _describe(ctx.audit_keys.current())


def _describe(keys: KeySet) -> AuditKeysView:
    return AuditKeysView(
        seal_active=keys.seal_active,
        seal_key_ids=sorted(keys.seal_keys),
        sign_active=keys.sign_active,
        signing_public_keys=keys.public_keys(),
    )


def checkpoint_lines(ctx: AppContext) -> Iterator[bytes]:
    """The checkpoint file's complete lines as written (a line cut short is left out)."""
    path = checkpoint_path(ctx)
    if not path.is_file():
        return
    with open(path, "rb") as handle:
        for line in handle:
            if line.endswith(b"\n"):
                yield line
