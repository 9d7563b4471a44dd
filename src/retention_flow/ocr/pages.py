"""Load pages: bytes of a PNG, JPEG, (multi-page) TIFF or PDF → greyscale page images.

Every refusal is an :class:`UnreadableInput` with a reason a person understands. Sizes are
checked from the file's header before any pixel is decoded (Pillow opens lazily; PDFium
reports page sizes), so a decompression bomb is refused without being allocated.
A blank page loads; registration then answers "the page is blank".
"""

from __future__ import annotations

import io
import warnings

import pypdfium2 as pdfium
from PIL import Image, UnidentifiedImageError

from retention_flow.ocr.errors import UnreadableInput

DEFAULT_DPI = 300
DEFAULT_MAX_PAGES = 50
#: A4 at 600 dpi is ~35 Mpx; anything far beyond is a decompression bomb, not a scan.
DEFAULT_MAX_PIXELS = 60_000_000
IMAGE_FORMATS = {"PNG", "JPEG", "TIFF", "MPO", "BMP"}


def rasterise_pdf(
    data: bytes,
    *,
    dpi: int = DEFAULT_DPI,
    max_pages: int = DEFAULT_MAX_PAGES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> list[Image.Image]:
    """Render every page of a PDF at ``dpi`` into greyscale images (PDFium).

    Page count and every page's size are checked before anything is rendered: a PDF that
    declares a 5 m page is refused, not allocated."""
    try:
        doc = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        text = str(exc).lower()
        reason = "encrypted (password protected)" if "password" in text else str(exc)
        raise UnreadableInput(f"not a readable PDF: {reason}") from exc
    try:
        count = len(doc)
        if count == 0:
            raise UnreadableInput("the PDF has no pages")
        if count > max_pages:
            raise UnreadableInput(f"the PDF has {count} pages; at most {max_pages} are accepted")
        scale = dpi / 72
        for index in range(count):
            width_pt, height_pt = doc.get_page_size(index)
            pixels = round(width_pt * scale) * round(height_pt * scale)
            if pixels > max_pixels:
                raise UnreadableInput(
                    f"PDF page {index + 1} is {width_pt / 72 * 25.4:.0f}x"
                    f"{height_pt / 72 * 25.4:.0f} mm, {pixels} pixels at {dpi} dpi, "
                    f"more than {max_pixels}"
                )
        pages = []
        for index in range(count):
            page = doc[index]
            try:
                bitmap = page.render(scale=scale, grayscale=True)
                pages.append(bitmap.to_pil().convert("L"))
            finally:
                page.close()
        return pages
    finally:
        doc.close()


def load_pages(
    data: bytes,
    *,
    dpi: int = DEFAULT_DPI,
    max_pages: int = DEFAULT_MAX_PAGES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> list[Image.Image]:
    """The pages of one uploaded file as greyscale images, or :class:`UnreadableInput`."""
    if not data:
        raise UnreadableInput("the file is empty")
    if data[:5] == b"%PDF-":
        return rasterise_pdf(data, dpi=dpi, max_pages=max_pages, max_pixels=max_pixels)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.format not in IMAGE_FORMATS:
                raise UnreadableInput(f"unsupported image format {image.format}")
            pages: list[Image.Image] = []
            frames = getattr(image, "n_frames", 1)
            if frames > max_pages:
                raise UnreadableInput(f"the image has {frames} pages; at most {max_pages}")
            for index in range(frames):  # headers only: nothing decoded yet
                image.seek(index)
                width, height = image.size
                if width * height > max_pixels:
                    raise UnreadableInput(
                        f"page {index + 1} is {width}x{height} pixels, more than {max_pixels}"
                        " (decompression bomb?)"
                    )
            for index in range(frames):
                image.seek(index)
                pages.append(image.convert("L"))
            return pages
    except UnreadableInput:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise UnreadableInput("the image is too large (decompression bomb?)") from exc
    except UnidentifiedImageError as exc:
        raise UnreadableInput("not an image or PDF we can read") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise UnreadableInput(f"the image is damaged or truncated: {exc}") from exc
