"""Intake of one page as small steps: identify + register → read fields → validate → route.

Pure: no database, no settings. The caller hands in the templates, a frozen
:class:`OcrContext`, and optionally a case lookup (case number → the offer codes printed on
that case's form, or None when there is no such case).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from pydantic import BaseModel

from retention_flow.ocr.cleanup import clean_page
from retention_flow.ocr.code import read_code
from retention_flow.ocr.identify import Identifier
from retention_flow.ocr.identity import combine
from retention_flow.ocr.omr import SATURATED_SIGNATURE, read_box
from retention_flow.ocr.pages import DEFAULT_MAX_PAGES, DEFAULT_MAX_PIXELS, load_pages
from retention_flow.ocr.readers import Backend, LineReader, make_reader
from retention_flow.ocr.reading import confirmed_by_code, read_text_field
from retention_flow.ocr.register import (
    Registered,
    RegistrationFailed,
    page_size_dpi,
    square_pixels,
)
from retention_flow.ocr.template import (
    CASE_TARGET,
    CheckboxGroup,
    FormTemplate,
    OcrField,
    SignatureField,
    load_templates,
)
from retention_flow.ocr.validate import (
    FieldResult,
    PageStatus,
    route,
    validate_checkboxes,
    validate_signature,
)

log = logging.getLogger(__name__)

#: case number → offer codes printed in the tick-box slots, in order; None: no such case
CaseLookup = Callable[[str], Sequence[str] | None]


@dataclass(frozen=True)
class OcrContext:
    """How pages are read. Built by the caller (e.g. from settings); never reads settings."""

    backend: Backend = "auto"
    tessdata_dir: str | None = None
    lang: str = "eng"
    work_dpi: int = 300
    pdf_dpi: int = 300
    max_pages: int = DEFAULT_MAX_PAGES
    max_pixels: int = DEFAULT_MAX_PIXELS
    #: align by feature matching when the registration marks are not found
    feature_fallback: bool = True


class RegistrationInfo(BaseModel):
    rotation_deg: float
    dpi: float
    residual_mm: float
    upside_down: bool
    method: str = "marks"  # or "features"


class PageResult(BaseModel):
    page: int  # 0-based index within its file
    status: PageStatus
    reasons: list[str]
    #: why the page could not be aligned with any form (one of ocr/refusal.CAUSES), when so
    refusal: str | None = None
    template_id: str | None = None
    template_version: int | None = None
    case_number: str | None = None
    fields: list[FieldResult] = []
    registration: RegistrationInfo | None = None
    #: the correlation payload for ``response_form_received`` (targets → values)
    message: dict[str, Any] = {}

    def field(self, name: str) -> FieldResult:
        return next(f for f in self.fields if f.name == name)


def _gray(image: Image.Image | np.ndarray) -> np.ndarray:
    if isinstance(image, np.ndarray):
        return image if image.ndim == 2 else np.asarray(Image.fromarray(image).convert("L"))
    # a grey page is used as it is: converting would copy 8 MB for nothing
    return np.asarray(image if image.mode == "L" else image.convert("L"))


def _union(boxes: list[tuple[int, int, int, int]]) -> tuple[int, int, int, int]:
    """The bounding box of image boxes (x0, y0, x1, y1)."""
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


class FormReader:
    """Reads scanned response forms. One per process; thread-safe (one engine per thread)."""

    def __init__(
        self,
        templates: Mapping[str, FormTemplate] | Sequence[FormTemplate],
        context: OcrContext | None = None,
        reader: LineReader | None = None,
    ) -> None:
        self.templates = list(templates.values() if isinstance(templates, Mapping) else templates)
        if not self.templates:
            raise ValueError("a FormReader needs at least one template")
        self.context = context or OcrContext()
        ctx = self.context
        self.reader = reader or make_reader(
            ctx.backend, tessdata_dir=ctx.tessdata_dir, lang=ctx.lang
        )
        self.identifier = Identifier(self.templates, ctx.work_dpi, ctx.feature_fallback)

    @classmethod
    def from_folder(cls, root: str | Path, context: OcrContext | None = None) -> FormReader:
        return cls(load_templates(root), context)

    def read_file(self, data: bytes, lookup: CaseLookup | None = None) -> list[PageResult]:
        """Every page of one file (PNG, JPEG, TIFF, PDF). Raises ``UnreadableInput``."""
        ctx = self.context
        pages = load_pages(
            data, dpi=ctx.pdf_dpi, max_pages=ctx.max_pages, max_pixels=ctx.max_pixels
        )
        return [self.read_page(page, lookup, index=i) for i, page in enumerate(pages)]

    def read_page(
        self, image: Image.Image | np.ndarray, lookup: CaseLookup | None = None, index: int = 0
    ) -> PageResult:
        raw: np.ndarray | None = None
        try:
            raw = _gray(image)
            gray = square_pixels(raw, self.templates[0])
            gray = clean_page(gray, page_size_dpi(gray, self.templates[0]))
            template, registered = self.identifier.identify(gray)
        except RegistrationFailed as refused:
            exc = refused if raw is None else self._sideways(raw, refused)
            log.info("page %d refused: %s (%s)", index, exc.reason, exc.detail)
            return PageResult(
                page=index, status="exception", reasons=[exc.reason], refusal=exc.cause
            )
        except Exception:
            log.exception("page %d: aligning failed", index)
            reason = "the page could not be aligned with any of our forms (an internal error)"
            return PageResult(page=index, status="exception", reasons=[reason])
        return self._read_registered(registered, template, lookup, index)

    def _sideways(self, raw: np.ndarray, refused: RegistrationFailed) -> RegistrationFailed:
        """A landscape image of a portrait form has the shape of a fax in normal mode
        (200x100 dpi), so it was stretched as one and its marks were not found: when the
        image turned a quarter registers, the page was scanned sideways — say so."""
        page = self.templates[0].page
        height, width = raw.shape[:2]
        if refused.cause in {"blank", "sideways"} or not (
            width > height and page.height_mm > page.width_mm
        ):
            return refused
        try:
            self.identifier.identify(np.ascontiguousarray(np.rot90(raw)))
        except Exception:  # not a form turned a quarter either: the first reason holds
            return refused
        return RegistrationFailed(
            "the page is sideways (a landscape scan of a portrait form): scan it upright",
            retry=False,
            cause="sideways",
        )

    def _read_text(
        self, registered: Registered, template: FormTemplate, field: OcrField
    ) -> FieldResult:
        """A text field; the case number from both channels (the code, the printed line)."""
        dpi = self.context.work_dpi
        if field.target == CASE_TARGET and template.code is not None:
            code = read_code(registered, template.code, template.id, dpi)
            result = confirmed_by_code(registered, field, code, dpi) or combine(
                read_text_field(registered, field, self.reader, dpi), code
            )
        else:
            result = read_text_field(registered, field, self.reader, dpi)
        result.box = registered.image_box(field.box)
        return result

    def _read_registered(
        self,
        registered: Registered,
        template: FormTemplate,
        lookup: CaseLookup | None,
        index: int,
    ) -> PageResult:
        dpi = self.context.work_dpi
        info = RegistrationInfo(
            rotation_deg=round(registered.rotation_deg, 2),
            dpi=round(registered.dpi, 1),
            residual_mm=round(registered.residual_mm, 3),
            upside_down=registered.upside_down,
            method=registered.method,
        )
        head = {
            "page": index,
            "template_id": template.id,
            "template_version": template.version,
            "registration": info,
        }
        results: list[FieldResult] = []
        options: Sequence[str] | None = None
        case_number: str | None = None
        ordered = sorted(template.fields, key=lambda f: f.target != CASE_TARGET)
        for field in ordered:
            if isinstance(field, OcrField):
                result = self._read_text(registered, template, field)
                readable = result.status in {"ok", "unsure"} and result.value is not None
                if field.target == CASE_TARGET and readable:
                    case_number = str(result.value)
                    if lookup is not None:
                        options = lookup(case_number)
                        if options is None:
                            result.status = "invalid"
                            result.reason = f"no case {case_number}"
            elif isinstance(field, CheckboxGroup):
                reads = [
                    read_box(
                        registered,
                        box,
                        inset=field.inset,
                        empty_max=field.empty_max,
                        marked_min=field.filled_min,
                        dpi=dpi,
                    )
                    for box in field.boxes
                ]
                result = validate_checkboxes(field, reads, options if lookup else None)
                result.box = _union([registered.image_box(b) for b in field.boxes])
            elif isinstance(field, SignatureField):
                mark = read_box(
                    registered,
                    field.box,
                    inset=field.inset,
                    empty_max=field.absent_max,
                    marked_min=field.present_min,
                    dpi=dpi,
                    saturated=SATURATED_SIGNATURE,
                    edge_check=True,
                )
                result = validate_signature(field, mark)
                result.box = registered.image_box(field.box)
            results.append(result)
        status, reasons = route(results, next(f.name for f in ordered))
        message: dict[str, Any] = {f.target: f.value for f in results}
        message["uncertain"] = status != "processed"
        return PageResult(
            **head,
            status=status,
            reasons=reasons,
            case_number=case_number,
            fields=results,
            message=message,
        )
