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
