"""Signed checkpoints of every audit stream's head, appended to a file outside the database.

A head seal proves a head was written by this installation, not that it is the *latest*
head: someone who kept an old, genuinely sealed head can move a stream back to it (and
delete the events after it). The checkpoint file remembers where every stream was. One
JSON object per line (``RETENTION_FLOW_AUDIT_CHECKPOINT_FILE``)::

    {"v": 1, "n": 7, "at": "2026-12-03T08:00:00Z", "prev": "<sha256 of line 6>",
     "full": false, "heads": {"<stream>": [seq, "<hash>"], ...}, "count": 1234,
     "root": "<sha256 over every stream's 'stream seq hash' line, sorted>",
     "key_id": "sign-20261203-ab12cd", "sig": "<Ed25519 signature, base64>"}

The first line of a file (and ``audit checkpoint --full``) lists every head; later lines
list the heads that moved since, and ``count``/``root`` commit to the whole set after
the line. ``prev`` chains the lines, so a removed or reordered line shows; ``sig`` signs
the line's other fields (sorted-key compact JSON). Lines are only ever appended
(one writer at a time per file, under an exclusive ``flock``).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from sqlalchemy import select

from retention_flow.core.clock import utc_iso
from retention_flow.db.session import read_session
from retention_flow.db.tables import AUDIT_HEAD, CASE
from retention_flow.services.audit.chain import GENESIS
from retention_flow.services.audit.seal import HEAD, AuditKeys
from retention_flow.services.audit.views import CheckpointWritten
from retention_flow.services.platform.context import AppContext

log = logging.getLogger(__name__)

VERSION = 1


@dataclass(frozen=True)
class Problem:
    """One finding of a verification: a stream's event (``stream``, ``seq``) or a
    checkpoint file's line (``line``)."""

    kind: str
    reason: str
    stream: str | None = None
    seq: int | None = None
    line: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class Position:
    """Where a checkpoint line saw a stream's head."""

    seq: int
    hash: str
    line: int
    at: str


@dataclass
class CheckpointLog:
    """A checkpoint file as read and checked: the heads it vouches for."""

    path: str
    lines: int = 0
    last_n: int = 0
    last_at: str | None = None
    last_text: str | None = None
    #: the heads after the last good line
    state: dict[str, tuple[int, str]] = field(default_factory=dict)
    #: per stream: seq -> the earliest line that recorded the head at that seq
    positions: dict[str, dict[int, Position]] = field(default_factory=dict)
    #: per stream: the furthest position any line recorded
    furthest: dict[str, Position] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    incomplete_tail: bool = False

    def summary(self) -> dict[str, Any]:
        return {
            "file": self.path,
            "lines": self.lines,
            "last_at": self.last_at,
            "streams": len(self.state),
            "incomplete_tail": self.incomplete_tail,
        }


def heads_digest(state: dict[str, tuple[int, str]]) -> str:
    digest = hashlib.sha256()
    for stream in sorted(state):
        seq, head = state[stream]
        digest.update(f"{stream} {seq} {head}\n".encode())
    return digest.hexdigest()


def _payload(line: dict[str, Any]) -> bytes:
    body = {k: v for k, v in line.items() if k != "sig"}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def _text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# --------------------------------------------------------------------------- reading


def read_log(path: Path, keys: AuditKeys) -> CheckpointLog:
    """Read and check every line: signatures, numbering, ``prev`` links and the digest of
    the heads. Lines that fail stay out of the state and are listed as problems."""
    result = CheckpointLog(str(path))
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return result
    text = raw.decode("utf-8", errors="replace")
    pieces = text.split("\n")
    if pieces and pieces[-1] == "":
        pieces.pop()
    elif pieces:
        pieces.pop()  # a line cut short by a crash while writing: not a checkpoint
        result.incomplete_tail = True
    for number, piece in enumerate(pieces, start=1):
        result.lines = number
        _read_line(result, keys, number, piece)
        result.last_text = piece
    return result


def _read_line(log_: CheckpointLog, keys: AuditKeys, number: int, text: str) -> None:
    def problem(kind: str, reason: str) -> None:
        log_.problems.append(Problem(kind, f"checkpoint line {number}: {reason}", line=number))

    try:
        line = json.loads(text)
        heads = _parse_heads(line["heads"])
        n, at, prev, full = int(line["n"]), str(line["at"]), str(line["prev"]), line["full"]
        key_id, signature = str(line["key_id"]), str(line["sig"])
        count, root = int(line["count"]), str(line["root"])
    except (ValueError, KeyError, TypeError) as exc:
        problem("checkpoint_malformed", f"not a checkpoint ({type(exc).__name__}: {exc})")
        return
    expected_prev = GENESIS if log_.last_text is None else _text_hash(log_.last_text)
    if n != log_.last_n + 1 or prev != expected_prev:
        problem(
            "checkpoint_broken",
            f"numbered {n} after {log_.last_n} or its prev does not match the line before: "
            "lines were removed, reordered or inserted",
        )
    log_.last_n = n
    verdict = keys.knowing(key_id).verify_signature(key_id, _payload(line), signature)
    if verdict == "unknown_key":
        problem("checkpoint_unknown_key", f"signed with key id {key_id!r}, which is not known")
        return
    if verdict != "ok":
        problem(
            "checkpoint_forged",
            "the signature does not match: the line was not written "
            "by this installation's checkpoint key (forged or edited)",
        )
        return
    state = dict(heads) if full is True else {**log_.state, **heads}
    if len(state) != count or heads_digest(state) != root:
        problem(
            "checkpoint_inconsistent",
            "its count or root does not match the heads of the lines before it and its own",
        )
    log_.state, log_.last_at = state, at
    for stream, (seq, head) in heads.items():
        position = Position(seq, head, number, at)
        log_.positions.setdefault(stream, {}).setdefault(seq, position)
        furthest = log_.furthest.get(stream)
        if furthest is None or seq > furthest.seq:
            log_.furthest[stream] = position


def _parse_heads(value: Any) -> dict[str, tuple[int, str]]:
    if not isinstance(value, dict):
        raise TypeError("heads is not an object")
    out: dict[str, tuple[int, str]] = {}
    for stream, pair in value.items():
        if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], int)):
            raise TypeError(f"head of {stream} is not [seq, hash]")
        out[stream] = (pair[0], str(pair[1]))
    return out


# --------------------------------------------------------------------------- writing


def current_heads(ctx: AppContext) -> dict[str, tuple[int, str, str | None, str | None]]:
    """Every stream's head as stored: seq, hash, seal key id, seal."""
    with read_session(ctx.db) as session:
        cases = session.execute(
            select(
                CASE.c.id,
                CASE.c.audit_seq,
                CASE.c.audit_hash,
                CASE.c.audit_seal_key,
                CASE.c.audit_seal,
            )
        )
        heads = {r[0]: (r[1], r[2], r[3], r[4]) for r in cases}
        system = session.execute(
            select(
                AUDIT_HEAD.c.stream,
                AUDIT_HEAD.c.seq,
                AUDIT_HEAD.c.hash,
                AUDIT_HEAD.c.seal_key,
                AUDIT_HEAD.c.seal,
            )
        )
        heads.update({r[0]: (r[1], r[2], r[3], r[4]) for r in system})
    return heads


_CACHE: dict[str, tuple[tuple[int, int], CheckpointLog]] = {}
_CACHE_LOCK = threading.Lock()


def checkpoint_path(ctx: AppContext) -> Path:
    return Path(ctx.settings.audit_checkpoint_file).expanduser()


def write_checkpoint(ctx: AppContext, *, full: bool = False) -> CheckpointWritten:
    """Append one signed line with the heads that moved since the last line (every head
    for a new file or ``full``). Answers what was written; a head that moved back or
    whose seal fails is logged and listed (it is recorded as it is: verification judges)."""
    path = checkpoint_path(ctx)
    keys = ctx.audit_keys
    with _locked(path) as handle:
        previous = _cached_log(path, keys)
        heads = current_heads(ctx)
        signing = keys.current()
        full = full or previous.last_text is None
        changed = {
            stream: (seq, digest)
            for stream, (seq, digest, _k, _s) in heads.items()
            if full or previous.state.get(stream) != (seq, digest)
        }
        moved_back = sorted(
            s
            for s, (seq, _d) in changed.items()
            if s in previous.state and seq < previous.state[s][0]
        )
        unsealed = sorted(s for s in changed if heads[s][3] is None)
        bad_seals = sorted(
            s
            for s, (seq, digest) in changed.items()
            if heads[s][3] is not None
            and keys.knowing(heads[s][2]).check(HEAD, s, seq, digest, heads[s][2], heads[s][3])
            != "ok"
        )
        state = dict(changed) if full else {**previous.state, **changed}
        line: dict[str, Any] = {
            "v": VERSION,
            "n": previous.last_n + 1,
            "at": utc_iso(ctx.now()),
            "prev": GENESIS if previous.last_text is None else _text_hash(previous.last_text),
            "full": full,
            "heads": {s: list(changed[s]) for s in sorted(changed)},
            "count": len(state),
            "root": heads_digest(state),
        }
        line["key_id"] = signing.sign_active
        line["sig"] = signing.sign(_payload(line))[1]
        text = json.dumps(line, sort_keys=True, separators=(",", ":"))
        handle.write((text + "\n").encode())
        handle.flush()
        os.fsync(handle.fileno())
        previous.state, previous.last_text = state, text
        previous.last_n, previous.last_at, previous.lines = line["n"], line["at"], line["n"]
        _remember(path, previous)
    if moved_back or bad_seals:
        log.error(
            "audit checkpoint %s: heads moved back %s, heads whose seal fails %s",
            path,
            moved_back[:20],
            bad_seals[:20],
        )
    return CheckpointWritten(
        file=str(path),
        n=line["n"],
        at=line["at"],
        full=full,
        heads_written=len(changed),
        streams=len(state),
        key_id=line["key_id"],
        moved_back=moved_back,
        bad_seals=bad_seals,
        unsealed=len(unsealed),
    )


@contextmanager
def _locked(path: Path) -> Iterator[IO[bytes]]:
    """The file opened for appending under an exclusive lock, with a line cut short by a
    crash while writing removed (it was never a checkpoint)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            size = handle.seek(0, os.SEEK_END)
            if size:
                handle.seek(size - 1)
                if handle.read(1) != b"\n":
                    handle.seek(0)
                    data = handle.read()
                    handle.truncate(data.rfind(b"\n") + 1)
                    handle.seek(0, os.SEEK_END)
            yield handle
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _stamp(path: Path) -> tuple[int, int]:
    info = path.stat()
    return info.st_mtime_ns, info.st_size


def _cached_log(path: Path, keys: AuditKeys) -> CheckpointLog:
    """The file's checked state: kept in memory between this process's own appends, read
    again when anything else wrote to the file."""
    with _CACHE_LOCK:
        cached = _CACHE.get(str(path.resolve()))
    if cached is not None and cached[0] == _stamp(path):
        return cached[1]
    fresh = read_log(path, keys)
    if cached is not None and fresh.last_n < cached[1].last_n:
        log.error(
            "audit checkpoint file %s now ends at line %s, but this process wrote line %s: "
            "lines were removed or the file replaced (verify against a kept copy)",
            path,
            fresh.last_n,
            cached[1].last_n,
        )
    return fresh


def _remember(path: Path, log_: CheckpointLog) -> None:
    log_.positions, log_.furthest = {}, {}  # the writer needs only the state
    with _CACHE_LOCK:
        _CACHE[str(path.resolve())] = (_stamp(path), log_)
