"""Load pages: bytes of a PNG, JPEG, (multi-page) TIFF or PDF → greyscale page images.

Every refusal is an :class:`UnreadableInput` with a reason a person understands; a file
over a limit (:class:`~retention_flow.ocr.limits.PageLimits`) is its subclass
:class:`ScanTooLarge`, naming the limit. Sizes are checked from the file's headers before
any pixel is decoded (Pillow opens lazily and reads every frame's header on ``seek``;
PDFium reports page sizes and, once a page is parsed, the sizes its images declare), so a
decompression bomb is refused without being allocated. A blank page loads; registration
then answers "the page is blank".

This runs in the calling process; the server reads uploads through
:mod:`retention_flow.ocr.isolated` (a child process with memory and time limits).
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from struct import error as struct_error  # a TIFF with broken tags

from PIL import Image, UnidentifiedImageError

from retention_flow.ocr.errors import ScanTooLarge, UnreadableInput
from retention_flow.ocr.limits import DEFAULT_DPI, DEFAULT_MAX_PAGES, DEFAULT_MAX_PIXELS, PageLimits
from retention_flow.ocr.pdf_pages import iter_pdf_pages

__all__ = [
    "DEFAULT_DPI",
    "DEFAULT_MAX_PAGES",
    "DEFAULT_MAX_PIXELS",
    "PageLimits",
    "iter_pages",
    "load_pages",
    "rasterise_pdf",
]

IMAGE_FORMATS = {"PNG", "JPEG", "TIFF", "MPO", "BMP"}


def rasterise_pdf(
    data: bytes,
    *,
    dpi: int = DEFAULT_DPI,
    max_pages: int = DEFAULT_MAX_PAGES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> list[Image.Image]:
    """Render every page of a PDF at ``dpi`` into greyscale images (PDFium)."""
    limits = PageLimits(dpi=dpi, max_pages=max_pages, max_page_pixels=max_pixels)
    return list(iter_pdf_pages(data, limits))


def load_pages(
    data: bytes,
    *,
    dpi: int = DEFAULT_DPI,
    max_pages: int = DEFAULT_MAX_PAGES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    limits: PageLimits | None = None,
) -> list[Image.Image]:
    """The pages of one uploaded file as greyscale images, or :class:`UnreadableInput`."""
    if limits is None:
        limits = PageLimits(dpi=dpi, max_pages=max_pages, max_page_pixels=max_pixels)
    return list(iter_pages(data, limits))


def iter_pages(data: bytes, limits: PageLimits) -> Iterator[Image.Image]:
    """The pages one at a time (a caller may pass each on before the next is decoded);
    every declared size of the file is checked before the first page is decoded."""
    if not data:
        raise UnreadableInput("the file is empty")
    if data[:5] == b"%PDF-":
        yield from iter_pdf_pages(data, limits)
        return
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.format not in IMAGE_FORMATS:
                raise UnreadableInput(f"unsupported image format {image.format}")
            frames = _check_frames(image, limits)
            for index in range(frames):
                image.seek(index)
                yield image.convert("L")
    except UnreadableInput:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ScanTooLarge(
            "the image is too large (decompression bomb?)", limit="page_pixels"
        ) from exc
    except UnidentifiedImageError as exc:
        raise UnreadableInput("not an image or PDF we can read") from exc
    except (OSError, SyntaxError, ValueError, EOFError, struct_error) as exc:
        raise UnreadableInput(f"the image is damaged or truncated: {exc}") from exc


def _check_frames(image: Image.Image, limits: PageLimits) -> int:
    """How many frames (pages) the image has, every frame's header checked: headers only,
    nothing decoded, and never more than ``max_pages + 1`` headers read."""
    total = 0
    index = 0
    while True:
        width, height = image.size
        pixels = width * height
        if pixels > limits.max_page_pixels:
            raise ScanTooLarge(
                f"page {index + 1} is {width}x{height} pixels, more than "
                f"{limits.max_page_pixels} (decompression bomb?)",
                limit="page_pixels",
            )
        total += pixels
        if total > limits.max_total_pixels:
            raise ScanTooLarge(
                f"the image's pages come to more than {limits.max_total_pixels} pixels "
                f"(page {index + 1} is {width}x{height} and passes it)",
                limit="total_pixels",
            )
        try:
            image.seek(index + 1)
        except EOFError:
            return index + 1
        index += 1
        if index + 1 > limits.max_pages:
            raise ScanTooLarge(
                f"the image has more than {limits.max_pages} pages; at most "
                f"{limits.max_pages} are accepted",
                limit="pages",
            )
