"""Load pages: bytes of a PNG, JPEG, (multi-page) TIFF or PDF → greyscale page images.

Every refusal is an :class:`UnreadableInput` with a reason a person understands.
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
    data: bytes, *, dpi: int = DEFAULT_DPI, max_pages: int = DEFAULT_MAX_PAGES
) -> list[Image.Image]:
    """Render every page of a PDF at ``dpi`` into greyscale images (PDFium)."""
    try:
        doc = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        reason = "encrypted (password protected)" if "password" in str(exc).lower() else str(exc)
        raise UnreadableInput(f"not a readable PDF: {reason}") from exc
    try:
        count = len(doc)
        if count == 0:
            raise UnreadableInput("the PDF has no pages")
        if count > max_pages:
            raise UnreadableInput(f"the PDF has {count} pages; at most {max_pages} are accepted")
        pages = []
        for index in range(count):
            page = doc[index]
            try:
                bitmap = page.render(scale=dpi / 72, grayscale=True)
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
        return rasterise_pdf(data, dpi=dpi, max_pages=max_pages)
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
            for index in range(frames):
                image.seek(index)
                width, height = image.size
                if width * height > max_pixels:
                    raise UnreadableInput(
                        f"page {index + 1} is {width}x{height} pixels, more than {max_pixels}"
                    )
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
