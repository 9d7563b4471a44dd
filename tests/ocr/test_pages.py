"""The page loader refuses bad input with a specific reason, before decoding pixels."""

from __future__ import annotations

import io
import resource
import struct
import zlib
from collections.abc import Callable

import numpy as np
import pytest
from fpdf import FPDF
from PIL import Image

from retention_flow.ocr.errors import UnreadableInput
from retention_flow.ocr.pages import DEFAULT_MAX_PIXELS, load_pages
from retention_flow.ocr.pipeline import FormReader, OcrContext
from retention_flow.ocr.readers import LineRead
from retention_flow.ocr.template import FormTemplate
from tests.ocr.conftest import lookup


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"\0" * 4096)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def _pdf(pages: int = 1, size_mm: tuple[float, float] = (210, 297), password: str = "") -> bytes:
    pdf = FPDF(unit="mm", format=size_mm)
    for _ in range(pages):
        pdf.add_page()
    if password:
        pdf.set_encryption(owner_password="owner", user_password=password)
    return bytes(pdf.output())


def _saved(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def _max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.parametrize(
    ("width", "height", "reason"),
    [
        (100_000, 100_000, "decompression bomb"),  # beyond Pillow's own limit
        (8_000, 8_000, f"8000x8000 pixels, more than {DEFAULT_MAX_PIXELS}"),  # beyond ours
    ],
)
def test_a_decompression_bomb_is_refused_without_allocating(
    width: int, height: int, reason: str
) -> None:
    bomb = _png_claiming(width, height)
    assert len(bomb) < 200
    before = _max_rss_mb()
    with pytest.raises(UnreadableInput, match=reason):
        load_pages(bomb)
    assert _max_rss_mb() - before < 50  # 8000x8000 grey alone would be 64 MB


def test_a_pdf_with_a_giant_page_is_refused_before_rendering() -> None:
    before = _max_rss_mb()
    with pytest.raises(UnreadableInput, match=r"PDF page 1 is 3000x3000 mm, .* more than"):
        load_pages(_pdf(size_mm=(3000, 3000)))
    assert _max_rss_mb() - before < 50


def test_an_encrypted_pdf_is_refused() -> None:
    with pytest.raises(UnreadableInput, match=r"encrypted \(password protected\)"):
        load_pages(_pdf(password="secret"))


def test_a_500_page_pdf_is_refused_by_the_context_limit(template: FormTemplate) -> None:
    big = _pdf(pages=500)
    with pytest.raises(UnreadableInput, match="the PDF has 500 pages; at most 50 are accepted"):
        load_pages(big)

    class Unused:
        name = "unused"

        def read_line(self, image: np.ndarray, whitelist: str) -> LineRead:
            raise AssertionError("no page may be read")

    reader = FormReader([template], OcrContext(max_pages=3), reader=Unused())
    with pytest.raises(UnreadableInput, match="the PDF has 4 pages; at most 3"):
        reader.read_file(_pdf(pages=4), lookup)


TRUNCATED: dict[str, Callable[[], bytes]] = {
    "png": lambda: _saved(Image.effect_noise((600, 800), 60).convert("L"), "PNG"),
    "jpeg": lambda: _saved(Image.effect_noise((600, 800), 60).convert("L"), "JPEG"),
    "tiff": lambda: _saved(Image.effect_noise((600, 800), 60).convert("L"), "TIFF"),
}


@pytest.mark.parametrize("make", TRUNCATED.values(), ids=TRUNCATED.keys())
def test_a_truncated_image_is_damaged(make: Callable[[], bytes]) -> None:
    data = make()
    with pytest.raises(UnreadableInput, match="damaged or truncated"):
        load_pages(data[: len(data) // 2])


def test_a_truncated_pdf_is_not_readable() -> None:
    data = _pdf(pages=2)
    with pytest.raises(UnreadableInput, match="not a readable PDF"):
        load_pages(data[: len(data) // 2])


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "the file is empty"),
        (b"\0" * 1000, "not an image or PDF we can read"),
        (b"GIF89a" + b"\0" * 100, "not an image or PDF|unsupported image format GIF"),
        (_saved(Image.new("L", (50, 50)), "GIF"), "unsupported image format GIF"),
    ],
    ids=["zero bytes", "zeros", "gif header", "gif"],
)
def test_not_a_page_image(data: bytes, reason: str) -> None:
    with pytest.raises(UnreadableInput, match=reason):
        load_pages(data)


def test_multi_page_fax_tiff_loads_every_page_as_grey() -> None:
    pages = [Image.new("1", (1728, 2200), 1), Image.new("1", (1728, 2200), 0)]
    tiff = _saved(pages[0], "TIFF", compression="group4", save_all=True, append_images=pages[1:])
    loaded = load_pages(tiff)
    assert [p.mode for p in loaded] == ["L", "L"]
    assert [p.getextrema() for p in loaded] == [(255, 255), (0, 0)]


@pytest.mark.tesseract
def test_each_page_of_a_batch_gets_its_own_answer(
    form_reader: FormReader, make_filled: Callable[..., Image.Image]
) -> None:
    form = make_filled()
    blank = Image.new("L", form.size, 255)
    tiff = _saved(
        form,
        "TIFF",
        compression="tiff_deflate",
        save_all=True,
        append_images=[blank, form.rotate(180)],
    )
    results = form_reader.read_file(tiff, lookup)
    assert [r.status for r in results] == ["processed", "exception", "processed"]
    assert results[1].reasons == ["the page is blank (no print found)"]
    assert results[2].registration is not None and results[2].registration.upside_down
