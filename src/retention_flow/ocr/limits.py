"""What reading one file may cost: the limits checked on declared sizes before decoding."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_DPI = 300
DEFAULT_MAX_PAGES = 50
#: A4 at 600 dpi is ~35 Mpx; anything far beyond is a decompression bomb, not a scan.
DEFAULT_MAX_PIXELS = 60_000_000


@dataclass(frozen=True)
class PageLimits:
    """Checked from headers and declarations before pixels are decoded. ``max_pages`` and
    ``max_total_pixels`` are what is left of a request's budget when several files come
    together."""

    dpi: int = DEFAULT_DPI
    max_pages: int = DEFAULT_MAX_PAGES
    #: one page (an image frame, or a PDF page at ``dpi``)
    max_page_pixels: int = DEFAULT_MAX_PIXELS
    #: all pages of the file together
    max_total_pixels: int = DEFAULT_MAX_PAGES * DEFAULT_MAX_PIXELS
    #: the images one PDF page embeds, by the sizes they declare, together
    max_image_pixels: int = DEFAULT_MAX_PIXELS
    #: drawing objects of one PDF page, those inside Form XObjects included
    max_page_objects: int = 100_000
    #: Form XObjects inside Form XObjects
    max_form_depth: int = 8
