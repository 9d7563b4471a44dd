"""Decode the files of one upload within the scan limits, before anything is stored.

Every file is read in a decoder child process (ocr/isolated.py: memory cap, time per page
and per file), at most ``scan_decode_concurrency`` at once in this process; an upload
that finds no free decoder within ``scan_decode_wait_seconds`` is answered 503 with
``Retry-After``. The files of one request share one budget of pages and pixels
(``scan_max_pages``, ``scan_max_request_pixels``): each file is checked against what the
files before it left.

The rule for a request: if any file is over a limit, the whole request is refused (413
``scan_limit_exceeded``, each refused file with its reason and the setting that bounds
it) and nothing of it is stored; a file that is not a scan we can read (empty, damaged,
encrypted) is not over a limit and is answered as an ``unreadable`` scan, as before.
"""

from __future__ import annotations

import hashlib
import math
import threading
from dataclasses import dataclass, field

from retention_flow.core.config import Settings
from retention_flow.core.errors import Busy, ScanLimitExceeded
from retention_flow.ocr.errors import ScanTooLarge, UnreadableInput
from retention_flow.ocr.isolated import MB, DecodedPage, Isolation, decode_isolated
from retention_flow.ocr.limits import PageLimits
from retention_flow.services.platform.context import AppContext
from retention_flow.services.scans.ocr_jobs import OCR_CONTEXT

#: the setting that bounds each limit a decoder names
LIMIT_SETTINGS = {
    "pages": "RETENTION_FLOW_SCAN_MAX_PAGES",
    "page_pixels": "RETENTION_FLOW_SCAN_MAX_PAGE_PIXELS",
    "total_pixels": "RETENTION_FLOW_SCAN_MAX_REQUEST_PIXELS",
    "image_pixels": "RETENTION_FLOW_SCAN_MAX_IMAGE_PIXELS",
    "page_objects": "RETENTION_FLOW_SCAN_MAX_PAGE_OBJECTS",
    "form_depth": "RETENTION_FLOW_SCAN_MAX_PAGE_OBJECTS",
    "page_seconds": "RETENTION_FLOW_SCAN_PAGE_SECONDS",
    "file_seconds": "RETENTION_FLOW_SCAN_FILE_SECONDS",
    "memory": "RETENTION_FLOW_SCAN_DECODE_MEMORY_MB",
}


@dataclass
class Budget:
    """What is left of one request's pages and pixels."""

    pages: int
    pixels: int

    @classmethod
    def of(cls, settings: Settings) -> Budget:
        return cls(settings.scan_max_pages, settings.scan_max_request_pixels)

    def spend(self, pages: list[DecodedPage]) -> None:
        self.pages -= len(pages)
        self.pixels -= sum(p.width * p.height for p in pages)


@dataclass
class ReadFile:
    """One uploaded file after decoding: its pages, or why it is unreadable, or the scan
    already stored for the same bytes."""

    filename: str
    digest: str
    pages: list[DecodedPage] = field(default_factory=list)
    error: str | None = None
    known: str | None = None


def limits(settings: Settings, budget: Budget) -> PageLimits:
    return PageLimits(
        dpi=OCR_CONTEXT.pdf_dpi,
        max_pages=budget.pages,
        max_page_pixels=settings.scan_max_page_pixels,
        max_total_pixels=budget.pixels,
        max_image_pixels=settings.scan_max_image_pixels,
        max_page_objects=settings.scan_max_page_objects,
    )


def isolation(settings: Settings) -> Isolation:
    return Isolation(
        page_seconds=settings.scan_page_seconds,
        file_seconds=settings.scan_file_seconds,
        memory_bytes=settings.scan_decode_memory_mb * MB,
    )


_slots_lock = threading.Lock()
_slots: dict[int, threading.BoundedSemaphore] = {}


def _slot(concurrency: int) -> threading.BoundedSemaphore:
    """This process's decoder slots (one semaphore per configured size)."""
    with _slots_lock:
        if concurrency not in _slots:
            _slots[concurrency] = threading.BoundedSemaphore(concurrency)
        return _slots[concurrency]


def decode(settings: Settings, data: bytes, budget: Budget) -> list[DecodedPage]:
    """One file's pages (PNG) within ``budget`` (spent on success); ``ScanTooLarge``,
    ``UnreadableInput`` or ``Busy``."""
    slot = _slot(settings.scan_decode_concurrency)
    if not slot.acquire(timeout=settings.scan_decode_wait_seconds):
        raise Busy(
            f"all {settings.scan_decode_concurrency} scan decoders are busy; try again shortly",
            retry_after=max(1, math.ceil(settings.scan_page_seconds * 2)),
        )
    try:
        pages = decode_isolated(data, limits(settings, budget), isolation(settings))
    finally:
        slot.release()
    budget.spend(pages)
    return pages


def read_files(
    ctx: AppContext, files: list[tuple[str, bytes]], known: dict[str, str]
) -> list[ReadFile]:
    """Decode every file of one request (``known``: content hash → stored scan id, those
    are not decoded again); raises ``ScanLimitExceeded`` naming every file over a limit."""
    settings = ctx.settings
    budget = Budget.of(settings)
    out: list[ReadFile] = []
    seen: dict[str, ReadFile] = {}
    refused: list[dict[str, str]] = []
    for index, (filename, data) in enumerate(files):
        digest = hashlib.sha256(data).hexdigest()
        name = (filename or "(unnamed)")[:300]
        if digest in known or digest in seen:
            out.append(ReadFile(name, digest, known=known.get(digest)))
            continue
        read = ReadFile(name, digest)
        try:
            read.pages = decode(settings, data, budget)
        except ScanTooLarge as exc:
            refused.append(_refusal(index, name, exc, budget, settings))
        except UnreadableInput as exc:
            read.error = exc.detail
        seen[digest] = read
        out.append(read)
    if refused:
        if len(refused) == 1:
            [one] = refused
            what = f"'{one['file']}' is over a scan limit: {one['message']} ({one['limit']})"
        else:
            names = ", ".join(f"'{r['file']}'" for r in refused)
            what = f"{len(refused)} of {len(files)} files are over a scan limit ({names})"
        raise ScanLimitExceeded(f"{what}; nothing of this upload was stored", errors=refused)
    return out


def _refusal(
    index: int, name: str, exc: ScanTooLarge, budget: Budget, settings: Settings
) -> dict[str, str]:
    message = exc.detail
    if exc.limit in ("pages", "total_pixels") and (
        budget.pages < settings.scan_max_pages or budget.pixels < settings.scan_max_request_pixels
    ):
        message += (
            f" (what the files before it left of this request's {settings.scan_max_pages} "
            f"pages and {settings.scan_max_request_pixels} pixels)"
        )
    return {
        "field": f"files[{index}]",
        "file": name,
        "limit": LIMIT_SETTINGS.get(exc.limit, exc.limit),
        "message": message,
    }
