"""Damage aimed at the fields themselves (added to break the field decisions, see
ocr/damage.py): what people and offices do to a form after it is filled in.

* ``pen_stroke``: a pen line (a crossing-out, an arrow, a note's tail) through a field;
* ``colour_stamp``: a red or blue mailroom stamp carrying a date in the form's own
  DD.MM.YYYY format, overlapping the date field or the signature box;
* ``coffee_ring``: the ring a cup leaves, its dark rim over a box;
* ``double_feed``: a strip of a second sheet (printed text and its edge's shadow) over the
  lower part of the page;
* ``highlighter``: a translucent marker band over the date or the case-number line;
* ``tint``: coloured or recycled paper (darker, fibrous paper; the ink stays dark).

Each takes the grey page, the severity (1-3), the random source, the page's resolution and
the zones to aim at (the form's field boxes in mm: x, y, w, h; random spots in the lower
half of the page when none are given), and returns the damaged page and its resolution.
Colours are drawn at their grey level (ITU-R 601 luma), as the reader sees them.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence

import cv2
import numpy as np

MM_PER_INCH = 25.4
Zone = tuple[float, float, float, float]  # x, y, w, h in mm
Targeted = Callable[
    [np.ndarray, int, random.Random, float, Sequence[Zone]], tuple[np.ndarray, float]
]
#: grey levels of red and blue stamp ink, light to dark (luma of e.g. (230,110,110))
STAMP_GREYS = ((146, 128), (112, 96), (82, 70))
#: what a highlighter lets through (yellow, green, pink)
HIGHLIGHT = (0.87, 0.74, 0.62)


def _gen(rng: random.Random) -> np.random.Generator:
    return np.random.default_rng(rng.randrange(2**32))


def _zone(a: np.ndarray, rng: random.Random, dpi: float, zones: Sequence[Zone]) -> Zone:
    """One of ``zones``, or a field-sized spot in the lower half of the page."""
    if zones:
        return rng.choice(list(zones))
    h, w = a.shape
    k = dpi / MM_PER_INCH
    return (rng.uniform(0.1, 0.6) * w / k, rng.uniform(0.45, 0.8) * h / k, 60.0, 14.0)


def _px(zone: Zone, k: float) -> tuple[int, int, int, int]:
    x, y, w, h = zone
    return round(x * k), round(y * k), round(w * k), round(h * k)


def pen_stroke(
    a: np.ndarray, s: int, rng: random.Random, dpi: float, zones: Sequence[Zone]
) -> tuple[np.ndarray, float]:
    """A ballpoint line through a field, entering and leaving it: one gentle curve (1), a
    line across the middle of the zone (2), two lines and a hook, darker and wider (3)."""
    k = dpi / MM_PER_INCH
    out = a.copy()
    for _ in range((1, 1, 2)[s - 1]):
        x, y, w, h = _px(_zone(a, rng, dpi, zones), k)
        reach = round((4, 8, 12)[s - 1] * k)
        # from outside one side of the zone to outside the other, through its middle band
        x0, x1 = x - reach, x + w + reach
        mid = y + h * rng.uniform(0.3, 0.7) if s > 1 else y + h * rng.choice((0.1, 0.9))
        tilt = rng.uniform(-0.6, 0.6) * h
        steps = 40
        wobble = rng.uniform(0.5, 1.5) * k
        phase = rng.uniform(0, math.tau)
        points = np.array(
            [
                (
                    x0 + (x1 - x0) * i / steps,
                    mid + tilt * (i / steps - 0.5) + math.sin(phase + i / 4) * wobble,
                )
                for i in range(steps + 1)
            ],
            np.int32,
        )
        if s == 3:  # a hook back up at the end, as an arrow or a crossing-out ends
            end = points[-1]
            hook = np.array([end, end + np.array([-round(3 * k), -round(4 * k)])], np.int32)
            points = np.vstack([points, hook])
        pen = max(2, round((0.4, 0.5, 0.7)[s - 1] * k))
        cv2.polylines(out, [points], False, rng.randint(15, 60), pen, cv2.LINE_AA)
    return out, dpi


def _stamp_image(size: tuple[int, int], k: float, text: str, grey: int) -> np.ndarray:
    """A rectangular rubber stamp (frame, two lines of text), ink where < 255."""
    w, h = size
    stamp = np.full((h, w), 255, np.uint8)
    line = max(2, round(0.6 * k))
    cv2.rectangle(stamp, (line, line), (w - line, h - line), grey, line)
    scale = h / 130
    thick = max(2, round(0.45 * k))
    cv2.putText(stamp, "EINGANG", (round(0.1 * w), round(0.42 * h)), 0, scale, grey, thick)
    cv2.putText(stamp, text, (round(0.06 * w), round(0.8 * h)), 0, scale, grey, thick)
    return stamp


def colour_stamp(
    a: np.ndarray, s: int, rng: random.Random, dpi: float, zones: Sequence[Zone]
) -> tuple[np.ndarray, float]:
    """A red or blue received-stamp ("EINGANG" and a date in DD.MM.YYYY) over a field:
    light and over a corner of the zone (1), over half of it (2), dark and over its middle
    (3). Rubber-stamp ink is uneven: some of it does not print."""
    k = dpi / MM_PER_INCH
    out = a.copy()
    x, y, w, h = _px(_zone(a, rng, dpi, zones), k)
    sw, sh = round(48 * k), round(20 * k)
    day = f"{rng.randint(1, 28):02d}.{rng.randint(1, 12):02d}.{rng.randint(2026, 2027)}"
    grey = rng.choice(STAMP_GREYS[s - 1])
    stamp = _stamp_image((sw, sh), k, day, grey)
    angle = rng.uniform(-8, 8)
    m = cv2.getRotationMatrix2D((sw / 2, sh / 2), angle, 1.0)
    stamp = cv2.warpAffine(stamp, m, (sw, sh), borderValue=255)
    gaps = _gen(rng).random(stamp.shape) < (0.1, 0.2, 0.05)[s - 1]
    stamp[gaps] = 255
    # the stamp's centre relative to the zone: near a corner, its half, its middle
    share = (0.95, 0.6, 0.5)[s - 1]
    cx = round(x + w * rng.choice((1 - share, share)))
    cy = round(y + h * rng.choice((1 - share, share)) if s < 3 else y + h / 2)
    x0, y0 = cx - sw // 2, cy - sh // 2
    ys, xs = (
        slice(max(y0, 0), min(y0 + sh, a.shape[0])),
        slice(max(x0, 0), min(x0 + sw, a.shape[1])),
    )
    part = stamp[ys.start - y0 : ys.stop - y0, xs.start - x0 : xs.stop - x0]
    out[ys, xs] = np.minimum(out[ys, xs], part)
    return out, dpi


def coffee_ring(
    a: np.ndarray, s: int, rng: random.Random, dpi: float, zones: Sequence[Zone]
) -> tuple[np.ndarray, float]:
    """A cup's ring over a box: a dark uneven rim 1-3 mm wide and a lighter inside,
    fainter (1) to dark with a drip (3)."""
    k = dpi / MM_PER_INCH
    h, w = a.shape
    x, y, zw, zh = _px(_zone(a, rng, dpi, zones), k)
    cx = round(x + zw * rng.uniform(0, 1))
    cy = round(y + zh * rng.uniform(0, 1))
    radius = round(rng.uniform(30, 42) * k)
    small = np.zeros((h // 4 + 1, w // 4 + 1), np.float32)
    rim = max(1, round((1.0, 2.0, 3.0)[s - 1] * k / 4))
    cv2.circle(small, (cx // 4, cy // 4), radius // 4, 1.0, rim)
    inside = np.zeros_like(small)
    cv2.circle(inside, (cx // 4, cy // 4), radius // 4, 1.0, -1)
    if s == 3:
        drip = (cx // 4 + round(radius / 4 * 0.7), cy // 4 + round(radius / 4 * 0.7))
        cv2.circle(inside, drip, max(2, round(4 * k / 4)), 1.0, -1)
        cv2.circle(small, drip, max(2, round(4 * k / 4)), 1.0, rim)
    speckled = np.asarray(_gen(rng).uniform(0.5, 1.0, small.shape), dtype=np.float32)
    uneven = cv2.GaussianBlur(speckled, (0, 0), 3)
    mask = cv2.GaussianBlur(small, (0, 0), 1.0) * uneven * (0.35, 0.5, 0.65)[s - 1]
    mask += cv2.GaussianBlur(inside, (0, 0), 2.0) * (0.06, 0.12, 0.2)[s - 1]
    full = cv2.resize(np.clip(mask, 0, 0.9), (w, h), interpolation=cv2.INTER_LINEAR)
    return (a * (1 - full)).astype(np.uint8), dpi


def double_feed(
    a: np.ndarray, s: int, rng: random.Random, dpi: float, zones: Sequence[Zone]
) -> tuple[np.ndarray, float]:
    """A second sheet fed with the page, lying over its lower part: a strip 12 / 30 / 60 mm
    high (to the page's bottom edge) of printed text lines, its edge casting a shadow."""
    k = dpi / MM_PER_INCH
    h, w = a.shape
    out = a.copy()
    lowest = max((z[1] + z[3] for z in zones), default=240.0)
    edge = round((lowest - (12, 30, 60)[s - 1] + rng.uniform(-3, 3)) * k)
    edge = min(max(edge, h // 3), h - 1)
    tilt = rng.uniform(-1.5, 1.5) * k
    sheet = np.full((h - edge, w), rng.randint(235, 250), np.uint8)
    gen = _gen(rng)
    line_h = round(6 * k)
    for row in range(round(4 * k), sheet.shape[0] - line_h // 2, line_h):
        words = " ".join(
            "".join(chr(65 + int(c)) for c in gen.integers(0, 26, int(gen.integers(2, 9))))
            for _ in range(12)
        )
        digits = f"{int(gen.integers(1, 29)):02d}.{int(gen.integers(1, 13)):02d}.2026"
        cv2.putText(sheet, f"{words} {digits}", (round(15 * k), row), 0, k / 7, 40, 2)
    out[edge:] = sheet
    shadow = max(2, round(0.6 * k))
    for i in range(shadow):
        y0 = edge - shadow + i
        if 0 <= y0 < h:
            out[y0] = (out[y0] * (0.55 + 0.4 * (shadow - i) / shadow / 2)).astype(np.uint8)
    m = np.array([[1, 0, 0], [tilt / w, 1, -tilt / 2]], np.float32)
    warped = cv2.warpAffine(out, m, (w, h), borderValue=255)
    return np.where(np.arange(h)[:, None] >= edge - 4 * shadow, warped, a).astype(np.uint8), dpi


def highlighter(
    a: np.ndarray, s: int, rng: random.Random, dpi: float, zones: Sequence[Zone]
) -> tuple[np.ndarray, float]:
    """A marker drawn along a field: yellow (1), green (2), pink (3), a band as high as a
    line of text, its strokes overlapping (darker where they do)."""
    k = dpi / MM_PER_INCH
    h, w = a.shape
    x, y, zw, zh = _px(_zone(a, rng, dpi, zones), k)
    band = np.zeros((h // 2 + 1, w // 2 + 1), np.float32)
    tall = max(2, round(rng.uniform(4, 6) * k / 2))
    for _ in range(rng.randint(1, 2 + s)):
        y0 = (y + zh // 2) // 2 + rng.randint(-tall // 3, tall // 3)
        x0 = (x - round(rng.uniform(0, 6) * k)) // 2
        x1 = (x + zw + round(rng.uniform(-10, 6) * k)) // 2
        cv2.line(band, (x0, y0), (x1, y0 + rng.randint(-tall // 4, tall // 4)), 1.0, tall)
    band = np.minimum(band + cv2.GaussianBlur(band, (0, 0), 1.5) * 0.3, 1.6)
    full = cv2.resize(band, (w, h), interpolation=cv2.INTER_LINEAR)
    through = HIGHLIGHT[s - 1] ** full
    return (a * through).astype(np.uint8), dpi


def tint(
    a: np.ndarray, s: int, rng: random.Random, dpi: float, zones: Sequence[Zone]
) -> tuple[np.ndarray, float]:
    """Coloured or recycled paper: the paper at 88 % (1), 75 % (2), 62 % (3) of white with
    fibres and flecks; the ink stays dark."""
    h, w = a.shape
    level = (0.88, 0.75, 0.62)[s - 1]
    gen = _gen(rng)
    fibres = cv2.resize(
        gen.normal(0, 0.025 * s, (h // 6 + 1, w // 6 + 1)).astype(np.float32), (w, h)
    )
    paper = np.clip(level + fibres, 0.3, 1.0)
    flecks = gen.random((h, w)) < 0.0004 * s
    out = a.astype(np.float32) * paper
    out[flecks] *= 0.6
    return np.clip(out, 0, 255).astype(np.uint8), dpi


OFFICE: dict[str, Targeted] = {
    "pen_stroke": pen_stroke,
    "colour_stamp": colour_stamp,
    "coffee_ring": coffee_ring,
    "double_feed": double_feed,
    "highlighter": highlighter,
    "tint": tint,
}
