"""Hostile scan files, generated at test time and small on disk: what an attacker (or a
broken scanner) uploads to make the server decode far more than it was sent.

Shared by tests/scans/test_hostile_uploads.py and bench/hostile_uploads.py. The PDFs are
written by hand (a minimal object writer) so that every dictionary says exactly what the
attack needs; the images go through Pillow and a header patch.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable

from PIL import Image, TiffImagePlugin

A4_PT = (595, 842)
FORM = b"/Type /XObject /Subtype /Form /BBox [0 0 10 10]"


class PdfWriter:
    """Numbered objects, a page tree and a cross-reference table: just enough PDF."""

    def __init__(self) -> None:
        self.objects: list[bytes] = []

    def add(self, body: bytes) -> int:
        self.objects.append(body)
        return len(self.objects)

    def reserve(self) -> int:
        return self.add(b"null")

    def set(self, number: int, body: bytes) -> None:
        self.objects[number - 1] = body

    def stream(self, head: bytes, data: bytes, *, deflate: bool = True) -> int:
        if deflate:
            data = zlib.compress(data, 9)
            head += b" /Filter /FlateDecode"
        return self.add(
            b"<< " + head + b" /Length %d >>\nstream\n" % len(data) + data + b"\nendstream"
        )

    def document(self, page_bodies: list[bytes]) -> bytes:
        """``page_bodies``: each page's dictionary entries other than /Type and /Parent."""
        tree = self.reserve()
        kids = [
            self.add(b"<< /Type /Page /Parent %d 0 R " % tree + body + b" >>")
            for body in page_bodies
        ]
        refs = b" ".join(b"%d 0 R" % kid for kid in kids)
        self.set(tree, b"<< /Type /Pages /Kids [" + refs + b"] /Count %d >>" % len(kids))
        catalog = self.add(b"<< /Type /Catalog /Pages %d 0 R >>" % tree)
        out = io.BytesIO()
        out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
        offsets = []
        for number, body in enumerate(self.objects, start=1):
            offsets.append(out.tell())
            out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
        xref = out.tell()
        out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(self.objects) + 1))
        for offset in offsets:
            out.write(b"%010d 00000 n \n" % offset)
        out.write(b"trailer\n<< /Size %d /Root %d 0 R >>\n" % (len(self.objects) + 1, catalog))
        out.write(b"startxref\n%d\n%%%%EOF\n" % xref)
        return out.getvalue()


def _page(content: int, resources: bytes = b"<< >>", size: tuple[int, int] = A4_PT) -> bytes:
    return b"/MediaBox [0 0 %d %d] /Resources " % size + resources + b" /Contents %d 0 R" % content


def operator_bomb_pdf(operators: int = 8_000_000) -> bytes:
    """One A4 page whose content stream repeats a tiny filled rectangle ``operators``
    times: ~0.1 MB on disk, millions of path objects once parsed."""
    pdf = PdfWriter()
    content = pdf.stream(b"", b"0 0 1 1 re f\n" * operators)
    return pdf.document([_page(content)])


def image_pdf(
    width: int,
    height: int,
    *,
    bpc: int = 8,
    colour: bytes = b"/DeviceGray",
    filter_: bytes = b"/FlateDecode",
    params: bytes = b"",
    data: bytes | None = None,
) -> bytes:
    """One A4 page showing one image XObject that declares ``width`` x ``height``; its
    stream holds a few bytes only (a decoder allocates for what the dictionary declares)."""
    pdf = PdfWriter()
    if data is None:
        data = zlib.compress(b"\0" * 65536) if filter_ == b"/FlateDecode" else b"\0" * 64
    head = (
        b"/Type /XObject /Subtype /Image /Width %d /Height %d /BitsPerComponent %d"
        % (width, height, bpc)
        + b" /ColorSpace "
        + colour
        + b" /Filter "
        + filter_
        + params
    )
    image = pdf.stream(head, data, deflate=False)
    content = pdf.stream(b"", b"q %d 0 0 %d 0 0 cm /Im0 Do Q\n" % A4_PT)
    return pdf.document([_page(content, b"<< /XObject << /Im0 %d 0 R >> >>" % image)])


def huge_image_pdf(side: int = 46_000) -> bytes:
    return image_pdf(side, side)


def ccitt_pdf(side: int = 46_000) -> bytes:
    """A 1-bit CCITT G4 image declaring ``side`` x ``side`` (a fax stream: a few bytes
    expand to billions of pixels)."""
    params = b" /DecodeParms << /K -1 /Columns %d /Rows %d >>" % (side, side)
    return image_pdf(side, side, bpc=1, filter_=b"/CCITTFaxDecode", params=params, data=b"\0" * 16)


def jbig2_pdf(side: int = 46_000) -> bytes:
    return image_pdf(side, side, bpc=1, filter_=b"/JBIG2Decode", data=b"\0" * 16)


def nested_forms_pdf(depth: int = 40, fan_out: int = 2) -> bytes:
    """Form XObject F(k) draws F(k+1) ``fan_out`` times, ``depth`` levels deep: a few KB
    that ask for fan_out**depth drawings (the "billion laughs" of PDF)."""
    pdf = PdfWriter()
    below = pdf.stream(FORM, b"0 0 1 1 re f\n")
    for _ in range(depth):
        draws = b"/F Do\n" * fan_out
        head = FORM + b" /Resources << /XObject << /F %d 0 R >> >>" % below
        below = pdf.stream(head, draws)
    content = pdf.stream(b"", b"/F Do\n")
    return pdf.document([_page(content, b"<< /XObject << /F %d 0 R >> >>" % below)])


def recursive_form_pdf() -> bytes:
    """A Form XObject that draws itself."""
    pdf = PdfWriter()
    form = pdf.reserve()
    head = FORM + b" /Resources << /XObject << /F %d 0 R >> >>" % form
    data = b"/F Do /F Do\n"
    pdf.set(form, b"<< " + head + b" /Length %d >>\nstream\n" % len(data) + data + b"\nendstream")
    content = pdf.stream(b"", b"/F Do\n")
    return pdf.document([_page(content, b"<< /XObject << /F %d 0 R >> >>" % form)])


def many_pages_pdf(pages: int = 5_000) -> bytes:
    """Thousands of empty pages sharing one content stream."""
    pdf = PdfWriter()
    content = pdf.stream(b"", b"")
    return pdf.document([_page(content)] * pages)


def tiff_pages(pages: int = 50, side: int = 7_680) -> bytes:
    """A multi-page 1-bit CCITT G4 TIFF of ``pages`` white pages of ``side`` x ``side``
    (each just under a per-page limit of 60 Mpx; 2.9 Gpx together at the defaults). One
    page is encoded; every page's directory points at that one strip, so the file stays
    a few KB."""
    out = io.BytesIO()
    Image.new("1", (side, side), 1).save(out, "TIFF", compression="group4", strip_size=1 << 30)
    one = Image.open(io.BytesIO(out.getvalue()))
    assert isinstance(one, TiffImagePlugin.TiffImageFile)
    [offset] = one.tag_v2[273]  # StripOffsets
    [length] = one.tag_v2[279]  # StripByteCounts
    strip = out.getvalue()[offset : offset + length]
    tags = [  # (tag, type, value): SHORT = 3, LONG = 4
        (256, 4, side),  # ImageWidth
        (257, 4, side),  # ImageLength
        (258, 3, 1),  # BitsPerSample
        (259, 3, 4),  # Compression: CCITT G4
        (262, 3, 0),  # Photometric: white is zero
        (273, 4, 8),  # StripOffsets: the strip right after the header
        (277, 3, 1),  # SamplesPerPixel
        (278, 4, side),  # RowsPerStrip
        (279, 4, len(strip)),  # StripByteCounts
    ]
    first = 8 + len(strip) + (len(strip) % 2)
    ifd_size = 2 + 12 * len(tags) + 4
    data = bytearray(b"II*\0" + struct.pack("<I", first) + strip)
    data.extend(b"\0" * (first - len(data)))
    for index in range(pages):
        following = first + (index + 1) * ifd_size if index + 1 < pages else 0
        data.extend(struct.pack("<H", len(tags)))
        for tag, kind, value in tags:
            data.extend(struct.pack("<HHI", tag, kind, 1))
            data.extend(struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value))
        data.extend(struct.pack("<I", following))
    return bytes(data)


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"\0" * 4096)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def png_deflate_bomb(side: int = 9_000) -> bytes:
    """A real PNG: ``side`` x ``side`` white greyscale pixels compress ~1000:1."""
    out = io.BytesIO()
    Image.new("L", (side, side), 255).save(out, "PNG", optimize=True)
    return out.getvalue()


def jpeg_claiming(width: int, height: int) -> bytes:
    """A small JPEG whose frame header (SOF0) is patched to claim ``width`` x ``height``."""
    out = io.BytesIO()
    Image.new("L", (16, 16), 200).save(out, "JPEG")
    data = bytearray(out.getvalue())
    sof = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, height, width)
    return bytes(data)


def tiff_claiming(width: int, height: int) -> bytes:
    """A TIFF whose header declares ``width`` x ``height`` with one tiny strip."""
    out = io.BytesIO()
    Image.new("L", (8, 8), 255).save(out, "TIFF")
    data = bytearray(out.getvalue())
    count = struct.unpack_from("<H", data, struct.unpack_from("<I", data, 4)[0])[0]
    start = struct.unpack_from("<I", data, 4)[0] + 2
    for i in range(count):
        entry = start + 12 * i
        tag, kind = struct.unpack_from("<HH", data, entry)
        if tag in (256, 257):  # ImageWidth, ImageLength
            value = width if tag == 256 else height
            if kind == 3:
                struct.pack_into("<HHIH", data, entry, tag, 4, 1, 0)
            struct.pack_into("<I", data, entry + 8, value)
    return bytes(data)


def truncated(data: bytes) -> bytes:
    return data[: len(data) // 3]


#: name → builder of the hostile files the bench and the tests send
HOSTILE: dict[str, Callable[[], bytes]] = {
    "operator_bomb.pdf": operator_bomb_pdf,
    "huge_image.pdf": huge_image_pdf,
    "ccitt_fax.pdf": ccitt_pdf,
    "jbig2.pdf": jbig2_pdf,
    "nested_forms.pdf": nested_forms_pdf,
    "many_pages.pdf": many_pages_pdf,
    "pages_59mpx.tif": tiff_pages,
    "png_bomb.png": lambda: png_claiming(100_000, 100_000),
    "deflate_bomb.png": png_deflate_bomb,
    "jpeg_bomb.jpg": lambda: jpeg_claiming(60_000, 60_000),
}
