"""Verify the audit trail: links, hashes, seals, heads, and the signed checkpoints.

Each stream is walked in order; its first finding is reported (later ones follow from it):

- ``missing`` / ``relinked`` / ``altered``: a gap in the numbering, a broken
  ``prev_hash`` link, or content that no longer hashes to the stored hash (a plain edit);
- ``resealed``: the event hashes fine but its seal fails: it was rewritten and the chain
  recomputed by someone without the seal key. It is the first event that differs;
- ``unknown_key``: sealed with a key id the key set does not hold;
- ``unsealed``: an event or head without a seal in a stream whose events are sealed
  (the seal was removed); ``legacy_head``: a head written before sealing existed
  (``retention-flow audit seal-existing`` seals those once, after checking them);
- ``head_mismatch`` / ``head_seal``: the head does not match the chain's end, or its seal
  fails (the head was moved by someone without the key);
- ``differs_from_checkpoint`` / ``truncated``: the chain differs from a checkpoint's
  hash at that seq, or ends before a seq a checkpoint saw (a head moved back to an old
  sealed state, trailing events deleted); ``stream_missing``: a checkpointed stream is
  gone. Checkpoint file findings (``checkpoint_forged``, ``checkpoint_broken``, ...)
  come first.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select, tuple_
from sqlmodel import Session

from retention_flow.db.tables import AUDIT_EVENT, AUDIT_HEAD, CASE
from retention_flow.services.audit.chain import GENESIS, SYSTEM_STREAM, chain_hash
from retention_flow.services.audit.checkpoint import CheckpointLog, Problem
from retention_flow.services.audit.seal import EVENT, HEAD, AuditKeys, keys_of

#: findings listed in a result (the count of all is ``problem_count``)
MAX_PROBLEMS = 100
#: the ``system`` event of ``retention-flow audit seal-existing`` (it runs once)
SEALED_EXISTING = "audit_existing_sealed"


@dataclass
class VerifyResult:
    ok: bool
    streams: int
    events: int
    broken_stream: str | None = None
    broken_seq: int | None = None
    reason: str | None = None
    kind: str | None = None
    problems: list[dict[str, Any]] = field(default_factory=list)
    problem_count: int = 0
    checkpoints: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


@dataclass
class StreamOutcome:
    """One stream after its walk: its head as stored, and its first finding."""

    stream: str
    events: int
    head: tuple[int, str, str | None, str | None] | None
    problem: Problem | None


def verify(
    session: Session,
    stream: str | None = None,
    batch: int = 5000,
    *,
    keys: AuditKeys | None = None,
    checkpoints: CheckpointLog | None = None,
) -> VerifyResult:
    """Walk every chain (or one); report the first finding and list the first
    ``MAX_PROBLEMS``. With ``checkpoints``, also compare with the heads they vouch for."""
    problems = list(checkpoints.problems) if checkpoints is not None else []
    streams = events = 0
    for outcome in walk(session, stream, batch, keys=keys, checkpoints=checkpoints):
        streams += outcome.events > 0
        events += outcome.events
        if outcome.problem is not None:
            problems.append(outcome.problem)
    first = problems[0] if problems else None
    return VerifyResult(
        ok=first is None,
        streams=streams,
        events=events,
        broken_stream=first.stream if first else None,
        broken_seq=first.seq if first else None,
        reason=first.reason if first else None,
        kind=first.kind if first else None,
        problems=[p.as_dict() for p in problems[:MAX_PROBLEMS]],
        problem_count=len(problems),
        checkpoints=checkpoints.summary() if checkpoints is not None else None,
    )


def walk(
    session: Session,
    stream: str | None = None,
    batch: int = 5000,
    *,
    keys: AuditKeys | None = None,
    checkpoints: CheckpointLog | None = None,
    after: str | None = None,
) -> Iterator[StreamOutcome]:
    """Every stream (with events, a head, or a checkpoint) in name order, and its first
    finding; with ``after``, the streams named after it only (a resumed run). Reads
    ``batch`` events at a time by keyset (stream, seq) and the heads of the streams each
    page covers: memory stays the same whatever the size of the trail."""
    keys = keys or keys_of(session)
    log = checkpoints or CheckpointLog("")
    legacy_sealed = session.execute(
        select(AUDIT_EVENT.c.at).where(
            AUDIT_EVENT.c.stream == SYSTEM_STREAM, AUDIT_EVENT.c.type == SEALED_EXISTING
        )
    ).first()
    sealing_began = session.execute(
        select(func.min(AUDIT_EVENT.c.id)).where(AUDIT_EVENT.c.seal.is_not(None))
    ).scalar()
    pages = _Pages(session, stream, batch, after, sorted(log.furthest))
    walker: _StreamWalk | None = None
    for row in pages.events():
        if walker is None or row["stream"] != walker.stream:
            if walker is not None:
                yield walker.close(pages.heads.pop(walker.stream, None))
            yield from _without_events(pages.before(row["stream"]), log)
            walker = _StreamWalk(row["stream"], keys, log, legacy_sealed is not None)
            walker.sealing_began = sealing_began
        walker.add(row)
    if walker is not None:
        yield walker.close(pages.heads.pop(walker.stream, None))
    yield from _without_events(pages.rest(), log)


def _without_events(
    found: Iterable[tuple[str, tuple[int, str, str | None, str | None] | None]],
    log: CheckpointLog,
) -> Iterator[StreamOutcome]:
    """Streams with a head or a checkpoint but not a single event."""
    for name, head in found:
        problem = None
        if head is not None and head[0] > 0:
            problem = Problem(
                "missing", f"the head records {head[0]} events but none are stored", name, 1
            )
        elif head is not None and name in log.furthest:
            problem = _truncated(name, 0, log)
        elif head is None:
            seen = log.furthest[name]
            reason = (
                f"checkpoint line {seen.line} ({seen.at}) saw the stream at seq {seen.seq}; "
                "its events and its head are gone"
            )
            problem = Problem("stream_missing", reason, name, 1)
        yield StreamOutcome(name, 0, head, problem)


class _Pages:
    """The events in (stream, seq) order a page at a time, and beside them the heads and
    the checkpointed names of the streams the pages have reached."""

    def __init__(
        self,
        session: Session,
        stream: str | None,
        batch: int,
        after: str | None,
        checkpointed: list[str],
    ) -> None:
        self.session, self.stream, self.batch = session, stream, batch
        #: heads (and checkpointed names, without a head: None) of streams not yet closed
        self.heads: dict[str, tuple[int, str, str | None, str | None] | None] = {}
        self._reached = after  # heads are read up to here (inclusive)
        self._names = deque(n for n in checkpointed if stream in (None, n) and (after or "") < n)
        self._order: deque[str] = deque()

    def events(self) -> Iterator[dict[str, Any]]:
        position: tuple[str, int] | None = None
        while True:
            query = select(AUDIT_EVENT).order_by(AUDIT_EVENT.c.stream, AUDIT_EVENT.c.seq)
            if self.stream is not None:
                query = query.where(AUDIT_EVENT.c.stream == self.stream)
            if position is not None:
                query = query.where(
                    tuple_(AUDIT_EVENT.c.stream, AUDIT_EVENT.c.seq) > tuple_(*position)
                )
            elif self._reached is not None:
                query = query.where(AUDIT_EVENT.c.stream > self._reached)
            rows = self.session.execute(query.limit(self.batch)).mappings().all()
            if not rows:
                return
            last = rows[-1]
            self._read_heads(last["stream"])
            for row in rows:
                yield dict(row)
            if len(rows) < self.batch:
                return
            position = (last["stream"], last["seq"])

    def _read_heads(self, upto: str | None) -> None:
        """The heads of the streams after the last page's up to ``upto`` (None: all)."""
        found: dict[str, tuple[int, str, str | None, str | None] | None] = dict(
            stored_heads(self.session, self.stream, self._reached, upto)
        )
        while self._names and (upto is None or self._names[0] <= upto):
            found.setdefault(self._names.popleft(), None)
        self.heads.update(found)
        self._order.extend(sorted(found))  # each page's names come after the last's
        if upto is not None:
            self._reached = upto

    def before(self, name: str | None) -> list[tuple[str, Any]]:
        """The pending names before ``name`` (all: None) that no walk closed: they have
        no events. Taken out."""
        out = []
        while self._order and (name is None or self._order[0] < name):
            earlier = self._order.popleft()
            if earlier in self.heads:
                out.append((earlier, self.heads.pop(earlier)))
        return out

    def rest(self) -> list[tuple[str, Any]]:
        self._read_heads(None)
        return self.before(None)


class _StreamWalk:
    def __init__(
        self, stream: str, keys: AuditKeys, log: CheckpointLog, legacy_sealed: bool
    ) -> None:
        self.stream = stream
        #: ``audit seal-existing`` ran: a head without a seal is no longer a legacy head
        self.legacy_sealed = legacy_sealed
        #: the id of the first sealed event: an unsealed event stored after it lost its seal
        self.sealing_began: int | None = None
        self.keys = keys
        self.log = log
        self.positions = log.positions.get(stream, {})
        self.seq, self.prev = 0, GENESIS
        self.events = 0
        self.sealed = False
        self.problem: Problem | None = None

    def _found(self, kind: str, seq: int | None, reason: str) -> None:
        self.problem = Problem(kind, reason, self.stream, seq)

    def add(self, row: dict[str, Any]) -> None:
        self.events += 1
        if self.problem is not None:
            return
        self.seq += 1
        seq = row["seq"]
        if seq != self.seq:
            return self._found("missing", seq, f"expected seq {self.seq}: an event is missing")
        if row["prev_hash"] != self.prev:
            return self._found("relinked", seq, "prev_hash does not match the previous event")
        if chain_hash(self.prev, row) != row["hash"]:
            return self._found(
                "altered", seq, "hash does not match the event's content: it was altered"
            )
        self.prev = row["hash"]
        key_id = row["seal_key"]
        verdict = self.keys.knowing(key_id).check(
            EVENT, self.stream, seq, row["hash"], key_id, row["seal"]
        )
        if verdict == "ok":
            self.sealed = True
        elif verdict == "unknown_key":
            return self._found("unknown_key", seq, f"sealed with key id {key_id!r}, not known")
        elif verdict == "mismatch":
            return self._found(
                "resealed",
                seq,
                "the event's seal does not match its content: it was rewritten and the chain "
                "recomputed without the seal key; this is the first event that differs",
            )
        elif self.sealed:
            return self._found("unsealed", seq, "the event has no seal, but earlier ones do")
        elif self.sealing_began is not None and row["id"] > self.sealing_began:
            return self._found(
                "unsealed",
                seq,
                "the event has no seal but was stored after sealing began: it was removed",
            )
        seen = self.positions.get(seq)
        if seen is not None and seen.hash != row["hash"]:
            self._found(
                "differs_from_checkpoint",
                seq,
                f"the hash at seq {seq} differs from checkpoint line {seen.line} ({seen.at}): "
                "the chain was rewritten at or before this event"
                + ("" if self.sealed else " (its events predate sealing)"),
            )

    def close(self, head: tuple[int, str, str | None, str | None] | None) -> StreamOutcome:
        if self.problem is None:
            self._check_end(head)
        return StreamOutcome(self.stream, self.events, head, self.problem)

    def _check_end(self, head: tuple[int, str, str | None, str | None] | None) -> None:
        if head is None:
            return self._found(
                "head_missing",
                self.seq,
                "events are stored but no head records the stream (its case row is gone)",
            )
        seq, digest, key_id, seal = head
        if (seq, digest) != (self.seq, self.prev):
            return self._found(
                "head_mismatch",
                min(seq, self.seq) + 1 if seq != self.seq else seq,
                f"the chain ends at seq {self.seq} but the head records seq {seq}: "
                + _HEAD_MISMATCH[(seq > self.seq) - (seq < self.seq)],
            )
        if self.stream in self.log.furthest:
            self.problem = _truncated(self.stream, self.seq, self.log)
            if self.problem is not None:
                return None
        verdict = self.keys.knowing(key_id).check(HEAD, self.stream, seq, digest, key_id, seal)
        if verdict == "unknown_key":
            return self._found(
                "unknown_key", seq, f"the head is sealed with key id {key_id!r}, not known"
            )
        if verdict == "mismatch":
            return self._found(
                "head_seal",
                seq,
                "the head's seal does not match: the head was moved (or its chain "
                "recomputed) without the seal key",
            )
        if verdict == "unsealed" and self.sealed:
            return self._found("unsealed", seq, "the head has no seal though its events do")
        if verdict == "unsealed" and self.legacy_sealed:
            return self._found(
                "unsealed", seq, "the head has no seal though `audit seal-existing` ran: removed"
            )
        if verdict == "unsealed":
            self._found(
                "legacy_head",
                seq,
                "the head has no seal: written before sealing; `retention-flow audit "
                "seal-existing` seals such heads once after the upgrade",
            )


_HEAD_MISMATCH = {
    1: "events are missing",
    -1: "the head was moved back",
    0: "the head's hash is not the last event's",
}


def _truncated(stream: str, end: int, log: CheckpointLog) -> Problem | None:
    furthest = log.furthest[stream]
    if furthest.seq <= end:
        return None
    return Problem(
        "truncated",
        f"checkpoint line {furthest.line} ({furthest.at}) saw the stream at seq "
        f"{furthest.seq}, but it ends at seq {end}: events {end + 1}..{furthest.seq} were "
        "removed and the head moved back",
        stream,
        end + 1,
    )


def stored_heads(
    session: Session,
    stream: str | None,
    after: str | None = None,
    upto: str | None = None,
) -> dict[str, tuple[int, str, str | None, str | None]]:
    """The heads of one stream, or of the streams named in (``after``, ``upto``]."""
    cases = select(
        CASE.c.id, CASE.c.audit_seq, CASE.c.audit_hash, CASE.c.audit_seal_key, CASE.c.audit_seal
    )
    system = select(
        AUDIT_HEAD.c.stream,
        AUDIT_HEAD.c.seq,
        AUDIT_HEAD.c.hash,
        AUDIT_HEAD.c.seal_key,
        AUDIT_HEAD.c.seal,
    )
    if stream is not None:
        cases = cases.where(CASE.c.id == stream)
        system = system.where(AUDIT_HEAD.c.stream == stream)
    if after is not None:
        cases = cases.where(CASE.c.id > after)
        system = system.where(AUDIT_HEAD.c.stream > after)
    if upto is not None:
        cases = cases.where(CASE.c.id <= upto)
        system = system.where(AUDIT_HEAD.c.stream <= upto)
    heads = {r[0]: (r[1], r[2], r[3], r[4]) for r in session.execute(cases)}
    heads.update({r[0]: (r[1], r[2], r[3], r[4]) for r in session.execute(system)})
    return heads
