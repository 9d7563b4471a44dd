"""Damage the reader was not designed for (added to break it, see ocr/damage.py): glare
that washes ink out, paper that does not lie flat, blur, dust specks, a page cut off by the
scanner, pages fed upside down or sideways, and an office copier's combination of small
faults. Each takes the grey page, the severity (1-3), the random source and the page's
resolution, and returns the damaged page and its resolution.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import cv2
import numpy as np

MM_PER_INCH = 25.4
Damage = Callable[[np.ndarray, int, random.Random, float], tuple[np.ndarray, float]]


def _gen(rng: random.Random) -> np.random.Generator:
    return np.random.default_rng(rng.randrange(2**32))


def glare(a: np.ndarray, s: int, rng: random.Random, dpi: float) -> tuple[np.ndarray, float]:
    """A phone's flash or a lamp mirrored on glossy paper: a soft bright patch over part of
    the form in which ink fades toward the paper's white."""
    h, w = a.shape
    small_h, small_w = h // 8 + 1, w // 8 + 1
    yy, xx = np.mgrid[0:small_h, 0:small_w].astype(np.float32)
    # over the lower half (tick boxes, date, signature) as often as over the top
    cx, cy = rng.uniform(0.2, 0.8) * small_w, rng.uniform(0.3, 0.85) * small_h
    radius = (0.10, 0.14, 0.18)[s - 1] * small_w
    stretch = rng.uniform(1.0, 2.0)
    d2 = ((xx - cx) / (radius * stretch)) ** 2 + ((yy - cy) / radius) ** 2
    mask = np.exp(-d2 * 1.5) * (0.55, 0.8, 0.97)[s - 1]
    mask = cv2.resize(mask.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    out = a.astype(np.float32) + (255 - a.astype(np.float32)) * mask
    return np.clip(out, 0, 255).astype(np.uint8), dpi


def curl(a: np.ndarray, s: int, rng: random.Random, dpi: float) -> tuple[np.ndarray, float]:
    """Paper that does not lie flat (a folded letter lifting off the glass, a page held in
    the hand): a smooth bend no straight or perspective map can follow, up to
    0.8 / 1.6 / 3 mm away from where a flat page would be, with the fold's shading."""
    h, w = a.shape
    k = dpi / MM_PER_INCH
    amp = (0.8, 1.6, 3.0)[s - 1] * k
    # the bend is smooth: its displacement is computed at 1/8 scale and resized up
    sh, sw = h // 8 + 1, w // 8 + 1
    yy, xx = np.mgrid[0:sh, 0:sw].astype(np.float32)
    phase = rng.uniform(0, math.tau)
    periods = rng.uniform(0.6, 1.4)
    wave = np.sin(yy / sh * math.tau * periods + phase)
    bulge = ((xx / sw - 0.5) * 2) ** 2  # the edges lift more than the middle
    dx = amp * 0.4 * wave
    dy = amp * bulge * np.cos(xx / sw * math.pi + phase)
    shade = 1 - (0.05, 0.1, 0.18)[s - 1] * (wave + 1) / 2 * bulge

    def full(m: np.ndarray) -> np.ndarray:
        return cv2.resize(m.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)

    grid_y, grid_x = np.indices((h, w), dtype=np.float32)
    out = cv2.remap(a, grid_x + full(dx), grid_y + full(dy), cv2.INTER_LINEAR, borderValue=255)
    return cv2.multiply(out, full(shade), dtype=cv2.CV_8U), dpi


def blur(a: np.ndarray, s: int, rng: random.Random, dpi: float) -> tuple[np.ndarray, float]:
    """Out of focus or moved while the picture was taken: a Gaussian and a short linear
    smear in a random direction, with a little less contrast."""
    k = dpi / MM_PER_INCH
    sigma = (0.1, 0.16, 0.24)[s - 1] * k
    out = cv2.GaussianBlur(a, (0, 0), sigma)
    length = max(3, round((0.2, 0.35, 0.55)[s - 1] * k))
    kernel = np.zeros((length, length), np.float32)
    angle = rng.uniform(0, math.pi)
    c = (length - 1) / 2
    dx, dy = math.cos(angle) * c, math.sin(angle) * c
    cv2.line(kernel, (round(c - dx), round(c - dy)), (round(c + dx), round(c + dy)), 1.0, 1)
    out = cv2.filter2D(out, -1, kernel / kernel.sum(), borderType=cv2.BORDER_REPLICATE)
    low = (0.9, 0.8, 0.7)[s - 1]
    return np.clip(255 - (255 - out.astype(np.float32)) * low, 0, 255).astype(np.uint8), dpi


def speckle(a: np.ndarray, s: int, rng: random.Random, dpi: float) -> tuple[np.ndarray, float]:
    """Dust and toner specks of a dirty copier or fax (dark dots of 1-4 px, 0.1-0.6 % of
    the page), and as many white drop-outs in the print."""
    h, w = a.shape
    gen = _gen(rng)
    share = (0.001, 0.003, 0.006)[s - 1]
    out = a.copy()
    count = round(h * w * share / 4)
    ys = gen.integers(0, h, count)
    xs = gen.integers(0, w, count)
    sizes = gen.integers(1, 2 + s, count)
    for y, x, size in zip(ys, xs, sizes, strict=True):
        out[y : y + size, x : x + size] = gen.integers(0, 80)
    drop = gen.random((h, w)) < share / 2
    out[drop & (a < 128)] = 255
    return out, dpi


def cutoff(a: np.ndarray, s: int, rng: random.Random, dpi: float) -> tuple[np.ndarray, float]:
    """The page lay off the scanner's glass: 6 / 12 / 20 mm of one edge are missing (the
    image is smaller, as the scanner's crop would give it)."""
    h, w = a.shape
    cut = round((6, 12, 20)[s - 1] * dpi / MM_PER_INCH)
    side = rng.randrange(4)
    if side == 0:
        return a[cut:].copy(), dpi
    if side == 1:
        return a[: h - cut].copy(), dpi
    if side == 2:
        return a[:, cut:].copy(), dpi
    return a[:, : w - cut].copy(), dpi


def rotated(a: np.ndarray, s: int, rng: random.Random, dpi: float) -> tuple[np.ndarray, float]:
    """Fed the wrong way: upside down (1), upside down and skewed 2-3° (2), sideways (3:
    a landscape image of the portrait form, to be refused with that reason)."""
    if s == 3:
        return cv2.rotate(
            a, rng.choice((cv2.ROTATE_90_CLOCKWISE, cv2.ROTATE_90_COUNTERCLOCKWISE))
        ), dpi
    out = cv2.rotate(a, cv2.ROTATE_180)
    if s == 2:
        h, w = out.shape
        deg = rng.choice((-1, 1)) * rng.uniform(2, 3)
        m = cv2.getRotationMatrix2D((w / 2, h / 2), deg, 1.0)
        out = cv2.warpAffine(out, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=255)
    return out, dpi


def combined(a: np.ndarray, s: int, rng: random.Random, dpi: float) -> tuple[np.ndarray, float]:
    """An office copier: several small faults at once — skew, lower resolution, faded and
    speckled toner, JPEG."""
    h, w = a.shape
    deg = rng.choice((-1, 1)) * (1.0, 2.0, 3.5)[s - 1] * rng.uniform(0.6, 1.0)
    m = cv2.getRotationMatrix2D((w / 2, h / 2), deg, 1.0)
    out = cv2.warpAffine(a, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=255)
    target = (250, 200, 170)[s - 1]
    out = cv2.resize(out, None, fx=target / dpi, fy=target / dpi, interpolation=cv2.INTER_AREA)
    strength = (0.8, 0.65, 0.5)[s - 1]
    out = np.clip(255 - (255 - out.astype(np.float32)) * strength, 0, 255).astype(np.uint8)
    out, _ = speckle(out, max(1, s - 1), rng, target)
    ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, (60, 45, 35)[s - 1]])
    decoded = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE) if ok else None
    return (out if decoded is None else np.asarray(decoded)), target


SCANNER_MORE: dict[str, Damage] = {
    "speckle": speckle,
    "cutoff": cutoff,
    "rotated": rotated,
    "combined": combined,
}
CAMERA_MORE: dict[str, Damage] = {"glare": glare, "curl": curl, "blur": blur}
