"""A degradation generator built to break the reader: 28 kinds of real-world damage, each at
three severities (1 mild, 2 moderate, 3 severe), deterministic for a seed. Used by
``bench/ocr_accuracy.py`` and the tests; pure (numpy, OpenCV, Pillow).

Scanner class: skew, dpi, jpeg, streaks, fax, halftone, faded, show_through, crease, stain,
stamp, staple, and (ocr/damage_more.py, kinds the reader was not designed for) speckle,
cutoff, rotated, combined, and (ocr/damage_office.py, aimed at the fields) pen_stroke,
colour_stamp, coffee_ring, double_feed, highlighter, tint. Camera class: perspective,
shadow, phone, glare, curl, blur.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

import cv2
import numpy as np
from PIL import Image

from retention_flow.ocr.damage_more import CAMERA_MORE, SCANNER_MORE
from retention_flow.ocr.damage_office import OFFICE, Zone
from retention_flow.ocr.register import MM_PER_INCH

SCANNER_KINDS = (
    "skew",
    "dpi",
    "jpeg",
    "streaks",
    "fax",
    "halftone",
    "faded",
    "show_through",
    "crease",
    "stain",
    "stamp",
    "staple",
    *SCANNER_MORE,
    *OFFICE,
)
CAMERA_KINDS = ("perspective", "shadow", "phone", *CAMERA_MORE)
KINDS = SCANNER_KINDS + CAMERA_KINDS
SEVERITIES = (1, 2, 3)
#: one line per kind (the bench prints the list): what it does to the page
DESCRIPTIONS = {
    "skew": "rotated 1.5 / 4 / 7.5 degrees",
    "dpi": "scanned at 400-600 / 200 / 150 dpi",
    "jpeg": "JPEG quality 60 / 40 / 30",
    "streaks": "dirty scanner glass: 2 / 5 / 10 dark or white vertical lines",
    "fax": "200x200 / 200x150 / 200x100 dpi, binarised",
    "halftone": "a copy of a copy: dot screen and moire",
    "faded": "toner running out: ink at 60 / 40 / 25 %, patchy",
    "show_through": "the back page's print seen through thin paper",
    "crease": "the letter's two folds pressed into dark lines",
    "stain": "a translucent blob over part of the page",
    "stamp": "a grey received-stamp ring and text somewhere on the page",
    "staple": "a torn or stapled corner folded back",
    "speckle": "dust and toner specks, white drop-outs",
    "cutoff": "6 / 12 / 20 mm of one edge missing",
    "rotated": "upside down / upside down and skewed / sideways",
    "combined": "office copier: skew, low dpi, faded, specks, JPEG",
    "pen_stroke": "a pen line through a field (new)",
    "colour_stamp": "red or blue received-stamp with a DD.MM.YYYY date over a field (new)",
    "coffee_ring": "a cup's ring, its dark rim over a box (new)",
    "double_feed": "a strip of a second printed sheet over the lower page (new)",
    "highlighter": "yellow / green / pink marker band over a field (new)",
    "tint": "coloured or recycled paper at 88 / 75 / 62 % of white (new)",
    "perspective": "camera tilted 5 / 10 / 15 degrees",
    "shadow": "uneven light and a shadow wedge",
    "phone": "phone photo: tilt, light, blur, noise, sharpening, JPEG",
    "glare": "a bright patch washing ink out",
    "curl": "paper not lying flat: 0.8 / 1.6 / 3 mm bend",
    "blur": "out of focus or moved",
}


def _jpeg(a: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", a, [cv2.IMWRITE_JPEG_QUALITY, quality])
    decoded = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE) if ok else None
    return a if decoded is None else np.asarray(decoded)


def _rotate(a: np.ndarray, deg: float) -> np.ndarray:
    h, w = a.shape
    m = cv2.getRotationMatrix2D((w / 2, h / 2), deg, 1.0)
    return cv2.warpAffine(a, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=255)


def _perspective(a: np.ndarray, tilt_deg: float, rng: random.Random, margin: float) -> np.ndarray:
    """The page seen by a camera tilted ``tilt_deg`` about a random axis, on a grey desk."""
    h, w = a.shape
    pad = round(margin * w)
    out_w, out_h = w + 2 * pad, h + 2 * pad
    shrink = math.tan(math.radians(tilt_deg)) * 0.5  # far edge shorter by this share
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
    dst = (src + pad).astype(np.float32)
    side = rng.randrange(4)  # which edge is farther from the camera
    i, j = side, (side + 1) % 4
    centre = (dst[i] + dst[j]) / 2
    dst[i] = centre + (dst[i] - centre) * (1 - shrink)
    dst[j] = centre + (dst[j] - centre) * (1 - shrink)
    dst += np.array([[rng.uniform(-1, 1) * pad * 0.3, rng.uniform(-1, 1) * pad * 0.3]], np.float32)
    m = cv2.getPerspectiveTransform(src, dst)
    desk = rng.randint(90, 150)
    return cv2.warpPerspective(a, m, (out_w, out_h), flags=cv2.INTER_AREA, borderValue=desk)


def _shadow(a: np.ndarray, depth: float, rng: random.Random) -> np.ndarray:
    """Uneven light: a smooth gradient plus a soft-edged shadow wedge of ``depth`` (0-1)."""
    full_h, full_w = a.shape
    h, w = full_h // 8 + 1, full_w // 8 + 1  # the light map is smooth: built at 1/8 scale
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0, math.tau)
    ramp = (np.cos(angle) * xx / w + np.sin(angle) * yy / h + 1) / 2
    light: np.ndarray = 1 - 0.35 * depth * ramp
    cx, cy = rng.uniform(0, w), rng.uniform(0, h)
    a2 = rng.uniform(0, math.pi)
    signed = (xx - cx) * np.cos(a2) + (yy - cy) * np.sin(a2)
    soft = w * rng.uniform(0.01, 0.05)
    wedge = 1 / (1 + np.exp(-signed / soft))
    light *= 1 - depth * 0.8 * wedge
    light = cv2.resize(light.astype(np.float32), (full_w, full_h), interpolation=cv2.INTER_LINEAR)
    shaded: np.ndarray = np.clip(a.astype(np.float32) * light, 0, 255).astype(np.uint8)
    return shaded


def _noise(a: np.ndarray, sigma: float, rng: random.Random) -> np.ndarray:
    gen = np.random.default_rng(rng.randrange(2**32))
    noise = gen.standard_normal(a.shape, dtype=np.float32) * sigma
    noisy: np.ndarray = np.clip(a + noise, 0, 255).astype(np.uint8)
    return noisy


def _resize(a: np.ndarray, fx: float, fy: float) -> np.ndarray:
    return cv2.resize(a, None, fx=fx, fy=fy, interpolation=cv2.INTER_AREA)


def _blob(shape: tuple[int, int], rng: random.Random, radius: float) -> np.ndarray:
    """A soft blob mask (0-1), drawn at 1/8 scale."""
    full_h, full_w = shape
    h, w, radius = full_h // 8 + 1, full_w // 8 + 1, radius / 8
    mask: np.ndarray = np.zeros((h, w), np.float32)
    cx, cy = rng.uniform(0.15, 0.85) * w, rng.uniform(0.2, 0.9) * h
    for _ in range(6):
        r = radius * rng.uniform(0.5, 1.0)
        cv2.circle(
            mask,
            (round(cx + rng.uniform(-radius, radius)), round(cy + rng.uniform(-radius, radius))),
            round(r),
            1.0,
            -1,
        )
    mask = cv2.GaussianBlur(mask, (0, 0), max(radius / 4, 0.5))
    return cv2.resize(mask, (full_w, full_h), interpolation=cv2.INTER_LINEAR)


def _staple(a: np.ndarray, side: int, rng: random.Random) -> None:
    """A torn or stapled corner, folded back (in place)."""
    h, w = a.shape
    x = rng.choice((0, w - side))
    y = rng.choice((0, h - side))
    tri = np.array([[x, y], [x + side, y], [x, y + side]], np.int32)
    if x:
        tri = np.array([[x + side, y], [x, y], [x + side, y + side]], np.int32)
    cv2.fillPoly(a, [tri], rng.choice((255, 200)))
    cv2.line(a, (x + side // 3, y + side // 4), (x + side // 2, y + side // 5), 40, 3)


def damage(
    image: Image.Image,
    kind: str,
    severity: int,
    rng: random.Random,
    dpi: float = 300,
    zones: Sequence[Zone] = (),
) -> tuple[Image.Image, float]:
    """``image`` (an upright page at ``dpi``) damaged by ``kind`` at ``severity`` (1-3);
    returns the damaged page and its resolution. ``zones`` (field boxes in mm: x, y, w, h)
    are where the kinds of ocr/damage_office.py aim."""
    if kind not in KINDS or severity not in SEVERITIES:
        raise ValueError(f"unknown damage {kind!r}/{severity}; kinds: {', '.join(KINDS)}")
    a: np.ndarray = np.asarray(image.convert("L")).copy()
    s = severity
    k = dpi / MM_PER_INCH
    h, w = a.shape
    out_dpi = dpi
    if kind in OFFICE:
        a, out_dpi = OFFICE[kind](a, s, rng, dpi, zones)
    elif (more := SCANNER_MORE.get(kind) or CAMERA_MORE.get(kind)) is not None:
        a, out_dpi = more(a, s, rng, dpi)
    elif kind == "skew":
        a = _rotate(a, rng.choice((-1, 1)) * (1.5, 4.0, 7.5)[s - 1] * rng.uniform(0.7, 1.0))
    elif kind == "dpi":
        target = (rng.choice((400, 600)), 200, 150)[s - 1]
        a, out_dpi = _resize(a, target / dpi, target / dpi), target
    elif kind == "jpeg":
        a = _jpeg(a, (60, 40, 30)[s - 1])
    elif kind == "streaks":  # a dirty scanner glass: vertical lines through the page
        for _ in range((2, 5, 10)[s - 1]):
            x = rng.randrange(w)
            a[:, x : x + rng.randint(1, 2 + s)] = rng.choice((rng.randint(0, 90), 255))
    elif kind == "fax":  # 200x100 (normal) or 200x200 dpi (fine), binarised
        fy = (200, 150, 100)[s - 1] / dpi
        low = _resize(a, 200 / dpi, fy)
        cut = (140, 160, 175)[s - 1]
        a = np.where(low < cut, 0, 255).astype(np.uint8)
        out_dpi = 200
    elif kind == "halftone":  # a copy of a copy: a dot screen and moiré
        period = (4, 3, 5)[s - 1]
        rows = np.sin(np.arange(h, dtype=np.float32) * 2 * math.pi / period)
        cols = np.sin(np.arange(w, dtype=np.float32) * 2 * math.pi / period)
        screen = (np.outer(rows, cols) + 1) * 30
        a = np.clip(a.astype(np.float32) - screen * s / 3, 0, 255).astype(np.uint8)
    elif kind == "faded":  # toner running out: ink lighter, unevenly
        strength = (0.6, 0.4, 0.25)[s - 1]
        gen = np.random.default_rng(rng.randrange(2**32))
        patchy = cv2.GaussianBlur(gen.uniform(0.7, 1.3, (h // 50 + 1, w // 50 + 1)), (3, 3), 0)
        patchy = cv2.resize(patchy.astype(np.float32), (w, h))
        a = np.clip(255 - (255 - a.astype(np.float32)) * strength * patchy, 0, 255)
        a = a.astype(np.uint8)
    elif kind == "show_through":  # the back page's print seen through thin paper
        back = np.asarray(cv2.GaussianBlur(np.fliplr(a).astype(np.float32), (0, 0), 2))
        a = np.minimum(a, 255 - (255 - back) * (0.15, 0.3, 0.45)[s - 1]).astype(np.uint8)
    elif kind == "crease":  # the letter's folds (1/3, 2/3) pressed into dark lines
        for fold in (h / 3, 2 * h / 3):
            y = round(fold + rng.uniform(-3, 3) * k)
            band = max(1, round((0.3, 0.6, 1.2)[s - 1] * k))
            a[y : y + band] = (a[y : y + band] * (0.75, 0.55, 0.35)[s - 1]).astype(np.uint8)
    elif kind == "stain":  # coffee: a brownish translucent blob
        mask = _blob((h, w), rng, (12, 22, 35)[s - 1] * k)
        a = (a * (1 - mask * (0.2, 0.35, 0.5)[s - 1])).astype(np.uint8)
    elif kind == "stamp":  # a received-stamp ring and text somewhere on the page
        cx, cy = round(rng.uniform(0.2, 0.8) * w), round(rng.uniform(0.25, 0.85) * h)
        r = round((12, 16, 20)[s - 1] * k)
        grey = (150, 120, 90)[s - 1]
        cv2.circle(a, (cx, cy), r, grey, max(2, round(0.8 * k)))
        cv2.putText(
            a, "RECEIVED", (cx - r, cy), cv2.FONT_HERSHEY_SIMPLEX, r / 60, grey, round(0.6 * k)
        )
    elif kind == "staple":
        _staple(a, round((8, 15, 25)[s - 1] * k), rng)
    elif kind == "perspective":
        a = _perspective(a, (5.0, 10.0, 15.0)[s - 1], rng, 0.05)
    elif kind == "shadow":
        a = _shadow(a, (0.25, 0.45, 0.7)[s - 1], rng)
    elif kind == "phone":
        a = _phone(a, s, rng)
    return Image.fromarray(a), out_dpi


def _phone(a: np.ndarray, s: int, rng: random.Random) -> np.ndarray:
    """Tilt, uneven light, lens blur, sensor noise, sharpening, JPEG."""
    a = _perspective(a, (4.0, 8.0, 12.0)[s - 1], rng, 0.06)
    a = _shadow(a, (0.15, 0.3, 0.45)[s - 1], rng)
    a = cv2.GaussianBlur(a, (0, 0), (0.6, 1.0, 1.4)[s - 1])
    a = _noise(a, (3, 6, 9)[s - 1], rng)
    sharp = cv2.addWeighted(a, 1.5, cv2.GaussianBlur(a, (0, 0), 2), -0.5, 0)
    return _jpeg(sharp, (70, 45, 30)[s - 1])
