"""The 2D code printed on every form: a QR code (printed with ``segno``, read with
``zxing-cpp``, OpenCV's ``QRCodeDetector`` when zxing finds nothing) carrying the case
number, the template id and the page number with a check. Two payloads:

* with the customer's self-service link (forms printed since links are in the code): the
  link itself, so a phone camera opens the offer page, with the form's data in the
  fragment (a fragment is never sent to the server, so the link stays as printed):
  ``<link>#rf2.<case number>.<template id>.<page>.<CRC-32, 8 hex digits>``, the check over
  everything before its dot (the link included);
* without a link (self-service off, or forms printed before):
  ``RF1|<case number>|<template id>|<page>|<CRC-32, 8 hex digits>``.

Both are read, so forms already mailed still identify their case. The printed
case-number line is a second, independent channel; see ocr/identity.py.
"""

from __future__ import annotations

import io
import re
import zlib
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from retention_flow.ocr.register import Registered
from retention_flow.ocr.template import Box

CODE_PREFIX = "RF1"
#: the fragment marker of the payload that is the self-service link
LINK_PREFIX = "rf2"
#: ``<link>#rf2.<case>.<template>.<page>.<check>``: case numbers are A-Z/0-9 groups joined
#: by "-" and template ids a-z/0-9/"_", so a dot never occurs inside a part
_LINK_PAYLOAD = re.compile(
    r"(?P<head>(?P<link>https?://[^#\s]+)#"
    + LINK_PREFIX
    + r"\.(?P<case>[A-Z0-9-]+)\.(?P<template>[a-z][a-z0-9_]*)\.(?P<page>[0-9]+))"
    + r"\.(?P<check>[0-9A-Fa-f]{8})"
)
#: padding around the code's box when it is cut out of the aligned page (its quiet zone)
CODE_PAD_MM = 4.0


def _check(head: str) -> str:
    return f"{zlib.crc32(head.encode()):08X}"


def payload(case_number: str, template_id: str, page: int = 1, link: str | None = None) -> str:
    """The code's text: the self-service ``link`` with the form's data in its fragment, or
    the plain payload without a link (see the module docstring)."""
    if link:
        head = f"{link}#{LINK_PREFIX}.{case_number}.{template_id}.{page}"
        text = f"{head}.{_check(head)}"
        if not _LINK_PAYLOAD.fullmatch(text):
            raise ValueError(
                f"the code cannot carry link {link!r} (an http(s) URL without '#') with "
                f"case {case_number!r} and template {template_id!r}"
            )
        return text
    head = f"{CODE_PREFIX}|{case_number}|{template_id}|{page}"
    return f"{head}|{_check(head)}"


@dataclass(frozen=True)
class CodeRead:
    """What the code on a page said: ``case_number`` when it decoded and its check holds;
    else ``problem`` in plain words (no code found, a foreign code, another form)."""

    case_number: str | None
    template_id: str | None = None
    page: int | None = None
    problem: str | None = None
    #: the self-service link the code carries (without its fragment), if it carries one
    link: str | None = None


_FOREIGN = "the code on the page is not one of our forms' codes"
_DAMAGED = "the code's check does not match (damaged code)"


def _split(text: str) -> tuple[str, list[str], str, str | None] | None:
    """(checked head, [case, template, page], check, link) of either payload, else None."""
    found = _LINK_PAYLOAD.fullmatch(text)
    if found is not None:
        parts = [found["case"], found["template"], found["page"]]
        return found["head"], parts, found["check"], found["link"]
    parts = text.split("|")
    if len(parts) != 5 or parts[0] != CODE_PREFIX:
        return None
    return "|".join(parts[:4]), parts[1:4], parts[4], None


def parse(text: str, template_id: str) -> CodeRead:
    """What a decoded code says for a page of ``template_id`` (either payload)."""
    split = _split(text)
    if split is None:
        return CodeRead(None, problem=_FOREIGN)
    head, (case_number, code_template, page_text), check, link = split
    if _check(head) != check.upper() or not page_text.isdigit():
        return CodeRead(None, problem=_DAMAGED)
    if code_template != template_id:
        problem = f"the code names another form ({code_template})"
        return CodeRead(None, code_template, int(page_text), problem, link)
    return CodeRead(case_number, code_template, int(page_text), link=link)


def _zxing(image: np.ndarray) -> str:
    """zxing-cpp (a few ms a code); "" when it is not installed or finds no code."""
    try:
        import zxingcpp
    except ImportError:
        return ""
    try:
        found = zxingcpp.read_barcode(
            np.ascontiguousarray(image),
            formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode),
        )
    except Exception:  # a decoder failure is "no code", never an error
        return ""
    return found.text if found is not None and found.valid else ""


def _opencv(image: np.ndarray) -> str:
    try:
        text, _points, _ = cv2.QRCodeDetector().detectAndDecode(image)
    except cv2.error:
        return ""
    return text or ""


def _decode(image: np.ndarray) -> str:
    """The code's text by zxing-cpp, else OpenCV's detector (slower; another decoder)."""
    return _zxing(image) or _opencv(image)


def read_code(registered: Registered, box: Box, template_id: str, dpi: float) -> CodeRead:
    """Decode the code where the template prints it on the aligned page."""
    padded = Box(
        x=max(box.x - CODE_PAD_MM, 0),
        y=max(box.y - CODE_PAD_MM, 0),
        w=box.w + 2 * CODE_PAD_MM,
        h=box.h + 2 * CODE_PAD_MM,
    )
    crop = registered.crop(padded, 0.0, dpi)
    text = _decode(crop)
    if not text:  # evened out light and sharpened edges: a second look, the same decoder
        blur = cv2.GaussianBlur(crop, (0, 0), 8)
        even = np.clip(crop.astype(np.float32) / np.maximum(blur, 1) * 255, 0, 255)
        _, binary = cv2.threshold(even.astype(np.uint8), 0, 255, cv2.THRESH_OTSU)
        text = _decode(binary)
    if not text:
        return CodeRead(None, problem="code unreadable")
    return parse(text, template_id)


def code_image(text: str) -> Image.Image:
    """The QR code of ``text`` as a 1-bit image, one pixel per module, no quiet zone."""
    import segno

    buffer = io.BytesIO()
    segno.make(text, error="m", micro=False).save(buffer, kind="png", scale=1, border=0)
    buffer.seek(0)
    return Image.open(buffer).convert("L")
