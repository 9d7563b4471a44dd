"""Form generation: a printable PDF response form per case, and the blank reference image.

The case number is printed in OCR-B (Debian's ``fonts-ocr-b``; Courier when it is missing)
followed by two check digits, ISO 7064 MOD 97-10 over the whole printed line (separators
included), so every single-character misread and every swap of neighbours is caught.
Forms printed before carried a MOD 37-36 value that ignored separators (template validator
``mod37_36``); such a line is still read, but only ever goes to a person to confirm.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from fpdf import FPDF
from PIL import Image

from retention_flow.ocr.checkdigit import mod97_10_line, printed_check
from retention_flow.ocr.code import code_image, payload
from retention_flow.ocr.pages import rasterise_pdf
from retention_flow.ocr.template import (
    REFERENCE_FILE,
    Box,
    CheckboxGroup,
    FormTemplate,
    OcrField,
    SignatureField,
)

OCR_FONT_CANDIDATES = (
    "/usr/share/fonts/opentype/ocr-b/OCRB.otf",
    "/usr/share/fonts/truetype/ocr-b/OCRB.ttf",
)
TEXT_FONT_CANDIDATES = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",)
CASE_NUMBER_RE = re.compile(r"^[A-Z0-9]+(-[A-Z0-9]+)*$")
LINE_MM = 0.4


@dataclass(frozen=True)
class Offer:
    code: str
    title: str


@dataclass(frozen=True)
class FormData:
    """What one printed form carries for its case."""

    case_number: str
    customer_name: str
    address_lines: tuple[str, ...] = ()
    offers: tuple[Offer, ...] = ()
    extra: dict[str, str] = field(default_factory=dict)


def case_line(case_number: str, scheme: str = "mod97_10") -> str:
    """The printed case-number line: the number, a space, two check digits (``mod97_10``:
    over the whole line; ``mod37_36``: the old value over letters and digits only)."""
    if not CASE_NUMBER_RE.match(case_number) or len(case_number) > 30:
        raise ValueError(f"case number {case_number!r} must be A-Z/0-9 groups joined by '-'")
    if scheme == "mod37_36":
        return f"{case_number} {printed_check(case_number)}"
    return mod97_10_line(case_number)


def _first_existing(candidates: tuple[str, ...]) -> str | None:
    return next((p for p in candidates if Path(p).is_file()), None)


def ocr_font_file() -> str | None:
    """The OCR-B font file forms are printed with; None: they fall back to Courier."""
    return _first_existing(OCR_FONT_CANDIDATES)


def _ocr_font(pdf: FPDF, font_file: str | None) -> str:
    """Register the OCR font (OCR-B, or the core font Courier where it is missing)."""
    if font_file:
        pdf.add_font("ocrb", fname=font_file)
    return "ocrb" if font_file else "courier"


def ocr_font_pdf(font_size_pt: float, font_file: str | None) -> FPDF:
    """A page-less PDF (mm) with the OCR font selected, as the case-number line is printed:
    :mod:`retention_flow.ocr.glyphs` renders its reference glyphs through it."""
    pdf = FPDF(unit="mm")
    pdf.set_auto_page_break(False)
    pdf.set_margins(0, 0, 0)
    pdf.set_font(_ocr_font(pdf, font_file), size=font_size_pt)
    return pdf


class _Pdf:
    def __init__(self, template: FormTemplate) -> None:
        self.pdf = FPDF(unit="mm", format=(template.page.width_mm, template.page.height_mm))
        self.pdf.set_auto_page_break(False)
        self.pdf.set_margins(0, 0, 0)
        self.pdf.add_page()
        self.ocr_font = _ocr_font(self.pdf, ocr_font_file())
        text_font = _first_existing(TEXT_FONT_CANDIDATES)
        if text_font:
            self.pdf.add_font("body", fname=text_font)
        self.text_font = "body" if text_font else "helvetica"
        self.pdf.set_line_width(LINE_MM)

    def text(self, x: float, y: float, value: str, size: float = 10, ocr: bool = False) -> None:
        font = self.ocr_font if ocr else self.text_font
        if font in {"helvetica", "courier"}:  # core fonts: Latin-1 only
            value = value.encode("latin-1", "replace").decode("latin-1")
        self.pdf.set_font(font, size=size)
        self.pdf.text(x, y, value)

    def rect(self, box: Box, fill: str = "D") -> None:
        self.pdf.rect(box.x, box.y, box.w, box.h, style=fill)


def render_pdf(
    template: FormTemplate, data: FormData | None = None, created: datetime | None = None
) -> bytes:
    """The printable PDF for one case, or the blank form when ``data`` is None. With
    ``created`` (the PDF's creation date) the same input gives the same bytes."""
    doc = _Pdf(template)
    pdf = doc.pdf
    if created is not None:
        pdf.set_creation_date(created)
    for mark in template.registration.marks:
        half = mark.size_mm / 2
        cx, cy = mark.center
        pdf.set_fill_color(0)
        pdf.rect(cx - half, cy - half, mark.size_mm, mark.size_mm, style="F")
        if mark.shape == "ring":
            pdf.set_fill_color(255)
            hole = mark.hole_mm / 2
            pdf.rect(cx - hole, cy - hole, mark.hole_mm, mark.hole_mm, style="F")
    pdf.set_fill_color(0)
    link = data.extra.get("self_service_url") if data is not None else None
    if data is not None and template.code is not None:  # the link too: a phone opens it
        box = template.code
        text = payload(data.case_number, template.id, link=link)
        pdf.image(code_image(text), box.x, box.y, box.w, box.h)
    doc.text(25, 30, template.title, size=15)
    if data is not None:
        for i, line in enumerate((data.customer_name, *data.address_lines)):
            doc.text(25, 44 + i * 5.5, line, size=11)
    for f in template.fields:
        if isinstance(f, OcrField):
            doc.rect(f.box)
            doc.text(f.box.x, f.box.y - 1.8, f.label, size=9)
            if f.printed and data is not None and f.name == "case_number":
                baseline = f.box.y + f.box.h / 2 + f.font_size_pt * 0.3528 * 0.36
                line = case_line(data.case_number, f.validator)
                doc.text(f.box.x + 4, baseline, line, f.font_size_pt, True)
        elif isinstance(f, CheckboxGroup):
            doc.text(f.boxes[0].x, f.boxes[0].y - 4, f.label, size=10)
            titles = (
                [o.title for o in data.offers]
                if data is not None
                else [f"Offer {i + 1}" for i in range(len(f.boxes))]
            )
            if len(titles) > len(f.boxes):
                raise ValueError(f"{len(titles)} offers but only {len(f.boxes)} boxes on the form")
            for box, title in zip(f.boxes, titles, strict=False):
                doc.rect(box)
                doc.text(box.right + 5, box.y + box.h / 2 + 1.5, title, size=11)
        elif isinstance(f, SignatureField):
            doc.rect(f.box)
            doc.text(f.box.x, f.box.y - 1.8, f.label, size=9)
    doc.text(
        25,
        template.page.height_mm - 30,
        "Tick one box with a clear cross, date and sign, and return this page.",
        size=9,
    )
    if link:  # the customer's personal link (services/outreach/self_service.py)
        doc.text(25, template.page.height_mm - 35, f"Or answer online: {link}", size=9)
    doc.text(25, template.page.height_mm - 24, f"{template.id} v{template.version}", size=7)
    return bytes(pdf.output())


def render_image(
    template: FormTemplate, data: FormData | None = None, dpi: int = 300
) -> Image.Image:
    """The form rasterised at ``dpi`` (greyscale), as a perfect scan would show it."""
    return rasterise_pdf(render_pdf(template, data), dpi=dpi, max_pages=1)[0]


def write_reference(template: FormTemplate, folder: str | Path, dpi: int = 150) -> Path:
    """Write the blank reference image (``reference.png``) into the template's folder."""
    path = Path(folder) / REFERENCE_FILE
    render_image(template, None, dpi=dpi).save(path, optimize=True)
    return path
