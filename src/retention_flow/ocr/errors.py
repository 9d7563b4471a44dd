"""OCR errors, part of the one error tree (each with a stable ``code``)."""

from __future__ import annotations

from retention_flow.core.errors import RetentionFlowError


class TemplateInvalid(RetentionFlowError):
    """An OCR template does not load or validate; ``errors`` lists ``{field, message}``."""

    code = "invalid_ocr_template"
    title = "Invalid OCR template"


class UnreadableInput(RetentionFlowError):
    """A file is not a page image or PDF we can read (corrupt, empty, too big, encrypted)."""

    code = "unreadable_scan"
    title = "Unreadable scan"


class OcrUnavailable(RetentionFlowError):
    """No Tesseract backend (tesserocr or a tesseract binary with language data) is installed."""

    code = "ocr_unavailable"
    title = "OCR engine unavailable"


class ScanTooLarge(UnreadableInput):
    """A file asks for more than a limit grants (pages, pixels, embedded images, drawing
    work, time or memory to decode). ``limit`` names which (a key of ``PageLimits`` or
    ``page_seconds``, ``file_seconds``, ``memory``); readers that store unreadable files
    may treat it as unreadable, the upload API refuses it (413) and stores nothing."""

    code = "scan_too_large"
    title = "Scan too large"

    def __init__(self, detail: str, *, limit: str) -> None:
        super().__init__(detail)
        self.limit = limit
