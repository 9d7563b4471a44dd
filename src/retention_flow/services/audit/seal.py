"""Keys that seal the audit trail, kept outside the database.

The hash chain alone is public arithmetic: whoever can write the database can rewrite an
event, recompute every later hash and move the head. Two keys the database never holds
make that visible:

- **seal keys** (HMAC-SHA256): every event row and every stream head carries
  ``HMAC(key, domain | stream | seq | hash)`` and the id of the key beside it. Without
  the key a recomputed chain cannot be sealed again; the first event whose seal fails is
  the first one that differs. Head and event seals use different domains, so an event's
  seal can never stand in for a head moved back.
- **signing keys** (Ed25519): sign the checkpoints of all heads written to a file
  outside the database (``audit_checkpoint``), which catch a head moved back to a
  state that was once genuinely sealed.

Keys live in a JSON file (``RETENTION_FLOW_AUDIT_KEY_FILE``, created 0600 on first use
outside production) or in the secret setting ``RETENTION_FLOW_AUDIT_KEYS`` (the same
JSON), with several keys per kind and one ``active``: rotation adds a key and makes it
active, older keys stay to verify what they sealed.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import os
import secrets
import threading
import time
import weakref
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from retention_flow.core.config import Settings
from retention_flow.core.errors import AuditKeysUnavailable

log = logging.getLogger(__name__)

FORMAT = "retention-flow audit keys 1"
HEAD = b"retention-flow/audit-head"
EVENT = b"retention-flow/audit-event"
#: how often a process looks at the key file's modification time (rotation by another
#: process is picked up within this time; an unknown key id looks at once)
RECHECK_SECONDS = 5.0

Check = Literal["ok", "unknown_key", "mismatch", "unsealed"]


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _unb64(text: Any, what: str) -> bytes:
    if not isinstance(text, str):
        raise AuditKeysUnavailable(f"audit keys: {what} is not a base64 string")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise AuditKeysUnavailable(f"audit keys: {what} is not valid base64") from exc


def message(domain: bytes, stream: str, seq: int, digest: str) -> bytes:
    """What a seal covers: the domain, the stream, the position and the chain hash."""
    return b"%s\x00%s\x00%d\x00%s" % (domain, stream.encode(), seq, digest.encode())


def new_key_id(kind: str, now: datetime) -> str:
    return f"{kind}-{now:%Y%m%d}-{secrets.token_hex(3)}"


@dataclass(frozen=True)
class KeySet:
    """The keys of one configuration: seal secrets and signing keys by id."""

    seal_active: str
    seal_keys: dict[str, bytes]
    sign_active: str
    sign_keys: dict[str, Ed25519PrivateKey]
    #: retired signing keys kept only to verify old checkpoints
    sign_retired: dict[str, Ed25519PublicKey] = field(default_factory=dict)

    # ------------------------------------------------------------------ sealing

    def seal(self, domain: bytes, stream: str, seq: int, digest: str) -> tuple[str, str]:
        """``(key id, seal)`` with the active seal key."""
        key = self.seal_keys[self.seal_active]
        mac = hmac.digest(key, message(domain, stream, seq, digest), "sha256")
        return self.seal_active, mac.hex()

    def check(
        self,
        domain: bytes,
        stream: str,
        seq: int,
        digest: str,
        key_id: str | None,
        seal: str | None,
    ) -> Check:
        if seal is None or key_id is None:
            return "unsealed"
        key = self.seal_keys.get(key_id)
        if key is None:
            return "unknown_key"
        mac = hmac.digest(key, message(domain, stream, seq, digest), "sha256").hex()
        return "ok" if hmac.compare_digest(mac, seal) else "mismatch"

    # ------------------------------------------------------------------ signing

    def sign(self, payload: bytes) -> tuple[str, str]:
        return self.sign_active, _b64(self.sign_keys[self.sign_active].sign(payload))

    def public_key(self, key_id: str) -> Ed25519PublicKey | None:
        private = self.sign_keys.get(key_id)
        if private is not None:
            return private.public_key()
        return self.sign_retired.get(key_id)

    def public_keys(self) -> dict[str, str]:
        """Signing key id -> raw Ed25519 public key (base64), for auditors."""
        publics = {k: v.public_key() for k, v in self.sign_keys.items()}
        publics.update(self.sign_retired)
        return {
            k: _b64(v.public_bytes(Encoding.Raw, PublicFormat.Raw))
            for k, v in sorted(publics.items())
        }

    def verify_signature(self, key_id: str, payload: bytes, signature: str) -> Check:
        public = self.public_key(key_id)
        if public is None:
            return "unknown_key"
        try:
            public.verify(base64.b64decode(signature, validate=True), payload)
        except (InvalidSignature, binascii.Error, ValueError):
            return "mismatch"
        return "ok"

    # ------------------------------------------------------------------ storage

    @classmethod
    def generate(cls, now: datetime) -> KeySet:
        seal_id, sign_id = new_key_id("seal", now), new_key_id("sign", now)
        seal_keys = {seal_id: secrets.token_bytes(32)}
        return cls(seal_id, seal_keys, sign_id, {sign_id: Ed25519PrivateKey.generate()})

    def rotated(self, now: datetime) -> KeySet:
        """A new active seal key and signing key; the old ones stay to verify."""
        seal_id, sign_id = new_key_id("seal", now), new_key_id("sign", now)
        return KeySet(
            seal_id,
            {**self.seal_keys, seal_id: secrets.token_bytes(32)},
            sign_id,
            {**self.sign_keys, sign_id: Ed25519PrivateKey.generate()},
            dict(self.sign_retired),
        )

    def to_json(self) -> str:
        body = {
            "format": FORMAT,
            "seal": {
                "active": self.seal_active,
                "keys": {k: _b64(v) for k, v in sorted(self.seal_keys.items())},
            },
            "sign": {
                "active": self.sign_active,
                "keys": {k: _b64(v.private_bytes_raw()) for k, v in sorted(self.sign_keys.items())},
                "retired": {
                    k: _b64(v.public_bytes(Encoding.Raw, PublicFormat.Raw))
                    for k, v in sorted(self.sign_retired.items())
                },
            },
        }
        return json.dumps(body, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str, source: str) -> KeySet:
        try:
            body = json.loads(text)
        except json.JSONDecodeError as exc:
            raise AuditKeysUnavailable(f"audit keys in {source} are not JSON: {exc}") from exc
        if not isinstance(body, dict) or body.get("format") != FORMAT:
            raise AuditKeysUnavailable(f"audit keys in {source}: expected format {FORMAT!r}")
        seal, sign = body.get("seal"), body.get("sign")
        if not isinstance(seal, dict) or not isinstance(sign, dict):
            raise AuditKeysUnavailable(f"audit keys in {source}: 'seal' and 'sign' are needed")
        seal_keys = {k: _unb64(v, f"seal key {k}") for k, v in _mapping(seal, "keys", source)}
        for key_id, raw in seal_keys.items():
            if len(raw) < 32:
                raise AuditKeysUnavailable(f"audit keys: seal key {key_id} is under 32 bytes")
        try:
            sign_keys = {
                k: Ed25519PrivateKey.from_private_bytes(_unb64(v, f"signing key {k}"))
                for k, v in _mapping(sign, "keys", source)
            }
            retired = {
                k: Ed25519PublicKey.from_public_bytes(_unb64(v, f"retired key {k}"))
                for k, v in _mapping(sign, "retired", source, required=False)
            }
        except ValueError as exc:
            raise AuditKeysUnavailable(f"audit keys in {source}: {exc}") from exc
        keys = cls(seal.get("active", ""), seal_keys, sign.get("active", ""), sign_keys, retired)
        if keys.seal_active not in seal_keys or keys.sign_active not in sign_keys:
            raise AuditKeysUnavailable(
                f"audit keys in {source}: the 'active' seal and signing key ids must be listed"
            )
        for key_id in [*seal_keys, *sign_keys, *retired]:
            if not (0 < len(key_id) <= 40) or not key_id.isascii():
                raise AuditKeysUnavailable(f"audit keys: key id {key_id!r} (1-40 ASCII chars)")
        return keys


def _mapping(
    section: dict[str, Any], name: str, source: str, required: bool = True
) -> list[tuple[str, Any]]:
    value = section.get(name, None if required else {})
    if not isinstance(value, dict) or (required and not value):
        raise AuditKeysUnavailable(f"audit keys in {source}: '{name}' must be an object of keys")
    return list(value.items())


# --------------------------------------------------------------------------- files


def write_new_key_file(path: Path, keys: KeySet) -> bool:
    """Create ``path`` (0600) holding ``keys`` unless it exists; True when created. Safe
    against another process doing the same: the file appears whole, once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = keys.to_json()
    tmp = _write_private_tmp(path, text)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    except OSError:  # a file system without hard links: create it in place, exclusively
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
    finally:
        tmp.unlink()
    return True


def replace_key_file(path: Path, keys: KeySet) -> None:
    """Write ``keys`` over ``path`` atomically, 0600 (rotation)."""
    os.replace(_write_private_tmp(path, keys.to_json()), path)


def _write_private_tmp(path: Path, text: str) -> Path:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    return tmp


class AuditKeys:
    """This process's keys: read once (and again when the key file changes), created on
    first use outside production."""

    def __init__(self, settings: Settings, now: Any) -> None:
        secret = settings.audit_keys
        self._secret = secret.get_secret_value() if secret is not None else None
        self.path = Path(settings.audit_key_file).expanduser()
        self._production = settings.environment == "production"
        self._now = now
        self._keys: KeySet | None = None
        self._stamp: tuple[int, int] | None = None
        self._next_check = 0.0
        self._lock = threading.Lock()

    @property
    def source(self) -> str:
        return "RETENTION_FLOW_AUDIT_KEYS" if self._secret is not None else str(self.path)

    def current(self) -> KeySet:
        """The keys, looking at the file again at most every ``RECHECK_SECONDS``."""
        keys = self._keys
        if keys is not None and (self._secret is not None or time.monotonic() < self._next_check):
            return keys
        return self._load(force=False)

    def knowing(self, key_id: str | None) -> KeySet:
        """The keys, re-read at once if ``key_id`` is not among them (rotated elsewhere)."""
        keys = self.current()
        if key_id is None or key_id in keys.seal_keys or keys.public_key(key_id) is not None:
            return keys
        return self._load(force=True) if self._secret is None else keys

    def _load(self, force: bool) -> KeySet:
        with self._lock:
            if self._secret is not None:
                if self._keys is None:
                    self._keys = KeySet.from_json(self._secret, self.source)
                return self._keys
            self._next_check = time.monotonic() + RECHECK_SECONDS
            stamp = self._file_stamp()
            if stamp is None:
                self._create()
                stamp = self._file_stamp()
            if self._keys is None or stamp != self._stamp or force:
                self._keys = self._read()
                self._stamp = stamp
            return self._keys

    def _file_stamp(self) -> tuple[int, int] | None:
        try:
            info = self.path.stat()
        except FileNotFoundError:
            return None
        return info.st_mtime_ns, info.st_size

    def _create(self) -> None:
        if self._production:
            raise AuditKeysUnavailable(
                f"audit keys missing: {self.path} does not exist. In production the keys are "
                "provisioned, not made on the fly: run `retention-flow audit keys init` once "
                "and share the file with every process (a mounted secret), or set "
                "RETENTION_FLOW_AUDIT_KEYS"
            )
        if write_new_key_file(self.path, KeySet.generate(self._now())):
            log.warning(
                "created audit keys in %s (0600): keep them outside the database and its "
                "backups; production mounts them as a secret",
                self.path,
            )

    def _read(self) -> KeySet:
        try:
            mode = self.path.stat().st_mode
            text = self.path.read_text(encoding="utf-8")
        except OSError as exc:
            raise AuditKeysUnavailable(f"audit keys: cannot read {self.path}: {exc}") from exc
        if mode & 0o077:
            problem = f"audit key file {self.path} is readable by others (chmod 600 it)"
            if self._production:
                raise AuditKeysUnavailable(problem)
            log.warning(problem)
        return KeySet.from_json(text, str(self.path))


# --------------------------------------------------------------------------- per engine

#: the keys of the context that owns each database engine, for writers that are handed
#: only a session (``audit.append_system``) and for ``audit.verify(session)``
_BOUND: weakref.WeakKeyDictionary[Any, AuditKeys] = weakref.WeakKeyDictionary()


def bind_keys(engine: Any, keys: AuditKeys) -> None:
    _BOUND[engine] = keys


def keys_of(session: Any) -> AuditKeys:
    bind = session.get_bind()
    keys = _BOUND.get(getattr(bind, "engine", bind))
    if keys is None:
        raise AuditKeysUnavailable("no audit keys for this database: build an AppContext on it")
    return keys
