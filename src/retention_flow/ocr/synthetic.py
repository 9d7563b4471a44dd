"""Synthetic filled-in and degraded scans, for tests and ``bench/ocr_accuracy.py``.

``fill`` plays the customer (a cross in a box, a date, a scribbled signature) on a rendered
form; ``degrade`` plays the post room's scanner (rotation, shift, resolution, noise, blur,
JPEG, fax-like binarisation, faint ink, two combinations, a page fed upside down, a torn-off
corner that takes a registration mark with it).
"""

from __future__ import annotations

import io
import math
import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from retention_flow.ocr.forms import OCR_FONT_CANDIDATES, TEXT_FONT_CANDIDATES
from retention_flow.ocr.register import MM_PER_INCH
from retention_flow.ocr.template import CheckboxGroup, FormTemplate, OcrField, SignatureField

DEGRADATIONS = (
    "clean",
    "rotate",
    "shift",
    "dpi",
    "noise",
    "blur",
    "jpeg",
    "fax",
    "faint",
    "combined",
    "combined_fax",
    "upside_down",
    "corner_torn",
)


def _font(size_px: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for path in (*TEXT_FONT_CANDIDATES, *OCR_FONT_CANDIDATES):
        if Path(path).is_file():
            return ImageFont.truetype(path, size_px)
    return ImageFont.load_default(size=size_px)


def fill(
    image: Image.Image,
    template: FormTemplate,
    *,
    ticks: Sequence[int] = (),
    date_text: str | None = None,
    signed: bool = False,
    dpi: float = 300,
    rng: random.Random | None = None,
) -> Image.Image:
    """A copy of the rendered (upright, ``dpi``) form as the customer fills it in."""
    rng = rng or random.Random(0)  # noqa: S311 - synthetic test data, not security
    k = dpi / MM_PER_INCH
    out = image.convert("L").copy()
    draw = ImageDraw.Draw(out)
    pen = max(2, round(0.5 * k))
    for field in template.fields:
        if isinstance(field, CheckboxGroup):
            for slot in ticks:
                b = field.boxes[slot]
                j = [rng.uniform(-0.6, 0.6) * k for _ in range(8)]
                x0, y0 = (b.x + 1.3) * k, (b.y + 1.3) * k
                x1, y1 = (b.right - 1.3) * k, (b.bottom - 1.3) * k
                draw.line([(x0 + j[0], y0 + j[1]), (x1 + j[2], y1 + j[3])], fill=20, width=pen)
                draw.line([(x1 + j[4], y0 + j[5]), (x0 + j[6], y1 + j[7])], fill=20, width=pen)
        elif isinstance(field, OcrField) and field.kind == "date" and date_text:
            font = _font(round(5.0 * k))
            x = (field.box.x + rng.uniform(3, 8)) * k
            y = (field.box.y + field.box.h / 2) * k
            draw.text((x, y), date_text, fill=25, font=font, anchor="lm")
        elif isinstance(field, SignatureField) and signed:
            b = field.box
            steps = 60
            phase = rng.uniform(0, math.tau)
            points = [
                (
                    (b.x + 8 + (b.w - 20) * i / steps) * k,
                    (b.y + b.h * 0.55 + math.sin(phase + i / 3.0) * b.h * 0.22) * k,
                )
                for i in range(steps + 1)
            ]
            draw.line(points, fill=30, width=pen, joint="curve")
    return out


def _rotate(img: Image.Image, angle: float) -> Image.Image:
    return img.rotate(angle, resample=Image.Resampling.BILINEAR, fillcolor=255)


def _shift(img: Image.Image, dx: float, dy: float) -> Image.Image:
    return img.transform(img.size, Image.Transform.AFFINE, (1, 0, -dx, 0, 1, -dy), fillcolor=255)


def _rescale(img: Image.Image, factor: float) -> Image.Image:
    size = (round(img.width * factor), round(img.height * factor))
    return img.resize(size, Image.Resampling.BILINEAR)


def _noise(img: Image.Image, sigma: float, rng: random.Random) -> Image.Image:
    gen = np.random.default_rng(rng.randrange(2**32))
    noisy = np.asarray(img, dtype=np.float32) + gen.normal(0, sigma, (img.height, img.width))
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def _jpeg(img: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    img.save(buffer, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("L")


def degrade(
    image: Image.Image, kind: str, rng: random.Random, dpi: float = 300
) -> tuple[Image.Image, float]:
    """The scan of ``image`` under degradation ``kind``; returns it with its new dpi."""
    img = image.convert("L")
    if kind == "clean":
        return img, dpi
    if kind == "rotate":
        return _rotate(img, rng.uniform(-3, 3)), dpi
    if kind == "shift":
        k = dpi / MM_PER_INCH
        return _shift(img, rng.uniform(-4, 4) * k, rng.uniform(-4, 4) * k), dpi
    if kind == "dpi":
        target = rng.uniform(200, 300)
        return _rescale(img, target / dpi), target
    if kind == "noise":
        return _noise(img, rng.uniform(10, 25), rng), dpi
    if kind == "blur":
        return img.filter(ImageFilter.GaussianBlur(rng.uniform(0.8, 1.5))), dpi
    if kind == "jpeg":
        return _jpeg(img, rng.randint(30, 60)), dpi
    if kind == "fax":
        low = _rescale(img, 200 / dpi)
        cut = rng.randint(120, 170)
        return low.point(lambda v: 0 if v < cut else 255), 200
    if kind == "faint":
        strength = rng.uniform(0.35, 0.55)
        return img.point(lambda v: round(255 - (255 - v) * strength)), dpi
    if kind == "combined":
        target = rng.uniform(200, 300)
        out = _rotate(img, rng.uniform(-3, 3))
        out = _rescale(out, target / dpi)
        out = _noise(out, rng.uniform(8, 15), rng)
        out = out.filter(ImageFilter.GaussianBlur(rng.uniform(0.4, 0.9)))
        return _jpeg(out, rng.randint(40, 60)), target
    if kind == "combined_fax":  # a skewed, shifted page through a fax machine
        k = dpi / MM_PER_INCH
        out = _shift(
            _rotate(img, rng.uniform(-3, 3)), rng.uniform(-3, 3) * k, rng.uniform(-3, 3) * k
        )
        return degrade(out, "fax", rng, dpi)
    if kind == "upside_down":  # fed the wrong way round, slightly skewed, noisy
        out = _rotate(img, 180 + rng.uniform(-2, 2))
        return _noise(out, rng.uniform(5, 12), rng), dpi
    if kind == "corner_torn":  # a corner (and its registration mark) torn off, skewed
        k = dpi / MM_PER_INCH
        out = img.copy()
        side = round(25 * k)
        x = rng.choice((0, out.width - side))
        y = rng.choice((0, out.height - side))
        out.paste(255, (x, y, x + side, y + side))
        return _rotate(out, rng.uniform(-2, 2)), dpi
    raise ValueError(f"unknown degradation {kind!r}; one of {', '.join(DEGRADATIONS)}")
