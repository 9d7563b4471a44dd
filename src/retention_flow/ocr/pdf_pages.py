"""PDF pages → greyscale images (PDFium), each declared size checked before it is drawn.

Before anything is rendered: the page count, every page's size at the reading resolution,
and their sum. Then, page by page, once PDFium has parsed the page's content: how many
drawing objects it holds (Form XObjects' contents included, nested at most
``max_form_depth`` deep) and the pixel sizes its image XObjects *declare* (a 46000x46000
image is a few bytes of CCITT or JBIG2 and 2 GB once decoded), and only then the render.

Parsing itself is not bounded here: a page of eight million drawing operators takes
PDFium seconds and gigabytes before it answers anything. That is why the server reads
files through :mod:`retention_flow.ocr.isolated`, in a child process with a memory limit
and a time limit per page.
"""

from __future__ import annotations

from collections.abc import Iterator
from ctypes import c_uint

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from PIL import Image

from retention_flow.ocr.errors import ScanTooLarge, UnreadableInput
from retention_flow.ocr.limits import PageLimits


def _open(data: bytes) -> pdfium.PdfDocument:
    try:
        return pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        text = str(exc).lower()
        reason = "encrypted (password protected)" if "password" in text else str(exc)
        raise UnreadableInput(f"not a readable PDF: {reason}") from exc


def _check_sizes(doc: pdfium.PdfDocument, limits: PageLimits) -> None:
    count = len(doc)
    if count == 0:
        raise UnreadableInput("the PDF has no pages")
    if count > limits.max_pages:
        raise ScanTooLarge(
            f"the PDF has {count} pages; at most {limits.max_pages} are accepted", limit="pages"
        )
    scale = limits.dpi / 72
    total = 0
    for index in range(count):
        width_pt, height_pt = doc.get_page_size(index)
        pixels = round(width_pt * scale) * round(height_pt * scale)
        if pixels > limits.max_page_pixels:
            raise ScanTooLarge(
                f"PDF page {index + 1} is {width_pt / 72 * 25.4:.0f}x"
                f"{height_pt / 72 * 25.4:.0f} mm, {pixels} pixels at {limits.dpi} dpi, "
                f"more than {limits.max_page_pixels}",
                limit="page_pixels",
            )
        total += pixels
        if total > limits.max_total_pixels:
            raise ScanTooLarge(
                f"the PDF's pages come to more than {limits.max_total_pixels} pixels at "
                f"{limits.dpi} dpi (page {index + 1} passes it)",
                limit="total_pixels",
            )


class _Tally:
    """What one page's content asks for: drawing objects and declared image pixels."""

    def __init__(self, page_no: int, limits: PageLimits) -> None:
        self.page_no = page_no
        self.limits = limits
        self.objects = 0
        self.image_pixels = 0

    def walk(self, count: int, get: object, parent: object, depth: int) -> None:
        limits = self.limits
        self.objects += count
        if self.objects > limits.max_page_objects:
            raise ScanTooLarge(
                f"PDF page {self.page_no} holds more than {limits.max_page_objects} drawing "
                "objects",
                limit="page_objects",
            )
        for index in range(count):
            obj = get(parent, index)  # type: ignore[operator]
            kind = pdfium_c.FPDFPageObj_GetType(obj)
            if kind == pdfium_c.FPDF_PAGEOBJ_IMAGE:
                self._image(obj)
            elif kind == pdfium_c.FPDF_PAGEOBJ_FORM:
                if depth >= limits.max_form_depth:
                    raise ScanTooLarge(
                        f"PDF page {self.page_no} nests Form XObjects more than "
                        f"{limits.max_form_depth} deep",
                        limit="page_objects",
                    )
                inner = pdfium_c.FPDFFormObj_CountObjects(obj)
                self.walk(max(inner, 0), pdfium_c.FPDFFormObj_GetObject, obj, depth + 1)

    def _image(self, obj: object) -> None:
        width, height = c_uint(), c_uint()
        if not pdfium_c.FPDFImageObj_GetImagePixelSize(obj, width, height):
            return
        pixels = width.value * height.value
        self.image_pixels += pixels
        if self.image_pixels > self.limits.max_image_pixels:
            raise ScanTooLarge(
                f"PDF page {self.page_no} embeds a {width.value}x{height.value} image; "
                f"at most {self.limits.max_image_pixels} pixels of images per page",
                limit="image_pixels",
            )


def iter_pdf_pages(data: bytes, limits: PageLimits) -> Iterator[Image.Image]:
    """The pages of a PDF at ``limits.dpi`` as greyscale images, one at a time."""
    doc = _open(data)
    try:
        _check_sizes(doc, limits)
        scale = limits.dpi / 72
        for index in range(len(doc)):
            page = doc[index]
            try:
                tally = _Tally(index + 1, limits)
                top = pdfium_c.FPDFPage_CountObjects(page)
                tally.walk(max(top, 0), pdfium_c.FPDFPage_GetObject, page, 0)
                bitmap = page.render(scale=scale, grayscale=True)
                image = bitmap.to_pil().convert("L")
                bitmap.close()
            finally:
                page.close()
            yield image
    finally:
        doc.close()
