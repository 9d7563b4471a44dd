"""The watched inbox folder (``RETENTION_FLOW_SCAN_INBOX``), polled by the worker.

A file is taken once it held still: the same size and modification time on two polls at
least ``scan_inbox_settle_seconds`` apart (by the context's clock), so a scan still being
copied in is not read early. Hidden files and ``*.part`` / ``*.tmp`` names are left alone
(copy tools write under such names and rename when done).

A taken file is ingested like an upload (idempotent by content hash: the same bytes again
are the same scan) and moved to ``processed/`` — or to ``failed/`` with a
``NAME.error.txt`` beside it when it is not a readable scan, or is over a scan limit
(status ``refused``: no scan is stored, see scan_decode.py). A file whose ingest failed
for a passing reason (OCR engine missing, database busy) stays for the next poll; a crash
between ingest and move ingests it again next time, which finds the stored scan.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from retention_flow.core.errors import RetentionFlowError, ScanLimitExceeded
from retention_flow.services.platform.context import Actor, AppContext
from retention_flow.services.scans import intake as scans

log = logging.getLogger(__name__)

INBOX_ACTOR = Actor("scan-inbox", frozenset({"back_office"}))
PROCESSED = "processed"
FAILED = "failed"
SKIP_SUFFIXES = (".part", ".tmp", ".crdownload", ".partial")


@dataclass
class _Seen:
    size: int
    mtime_ns: int
    since: datetime


@dataclass
class Inbox:
    ctx: AppContext
    folder: Path
    settle_seconds: float = 2.0
    actor: Actor = INBOX_ACTOR
    _seen: dict[str, _Seen] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, ctx: AppContext) -> Inbox | None:
        folder = ctx.settings.scan_inbox
        if not folder:
            return None
        return cls(ctx, Path(folder), ctx.settings.scan_inbox_settle_seconds)

    def poll(self) -> list[dict[str, Any]]:
        """One pass: ingest every file that held still; returns what was done with each."""
        self.folder.mkdir(parents=True, exist_ok=True)
        now = self.ctx.now()
        done: list[dict[str, Any]] = []
        present: set[str] = set()
        for path in sorted(self.folder.iterdir()):
            if not path.is_file() or path.name.startswith(".") or path.suffix in SKIP_SUFFIXES:
                continue
            present.add(path.name)
            if self._settled(path, now):
                result = self._take(path)
                if result is not None:
                    done.append(result)
                    self._seen.pop(path.name, None)
        for gone in set(self._seen) - present:
            del self._seen[gone]
        return done

    def _settled(self, path: Path, now: datetime) -> bool:
        try:
            stat = path.stat()
        except OSError:
            return False
        seen = self._seen.get(path.name)
        if seen is None or (seen.size, seen.mtime_ns) != (stat.st_size, stat.st_mtime_ns):
            self._seen[path.name] = _Seen(stat.st_size, stat.st_mtime_ns, now)
            return False
        return (now - seen.since).total_seconds() >= self.settle_seconds

    def _take(self, path: Path) -> dict[str, Any] | None:
        try:
            stored = scans.ingest(self.ctx, self.actor, path.name, path.read_bytes())
        except ScanLimitExceeded as exc:  # never stored: it goes to failed/ with the reason
            reasons = "\n".join(e["message"] for e in exc.errors) or exc.detail
            moved = _move(path, self.folder / FAILED, uuid.uuid4().hex)
            moved.with_name(moved.name + ".error.txt").write_text(f"{reasons}\n", encoding="utf-8")
            return {"file": path.name, "moved_to": str(moved), "scan_id": None, "status": "refused"}
        except (RetentionFlowError, OSError) as exc:  # passing trouble: the next poll retries
            log.warning("inbox file %s not ingested: %s", path.name, exc)
            return None
        target = FAILED if stored.status == "unreadable" else PROCESSED
        moved = _move(path, self.folder / target, stored.id)
        if target == FAILED:
            moved.with_name(moved.name + ".error.txt").write_text(
                f"{stored.error}\n", encoding="utf-8"
            )
        return {
            "file": path.name,
            "moved_to": str(moved),
            "scan_id": stored.id,
            "status": stored.status,
        }


def _move(path: Path, folder: Path, scan_id: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / path.name
    if target.exists():  # another file of that name came before: keep both
        target = folder / f"{path.stem}.{scan_id[:8]}{path.suffix}"
    return path.replace(target)
