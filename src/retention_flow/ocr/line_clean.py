"""Cleaning a text field's inside before it is read: ink that is certainly not writing.

Each step takes away only ink that no character can be, so a reading can lose a character
(then the validator refuses it) but never gain one:

* ``drop_specks``: dust, toner and fax specks — blobs no larger than SPECK_MM square
  anywhere, and blobs no larger than a written dot (DOT_MM) above or below the line of
  writing. Tesseract reads a speck beside the line as ``.`` or ``7`` (``07.03.2026 .``),
  and one speck far off widens the tight crop around the line;
* ``detached_edge_ink``: ink that runs into the box's edge (a rubber stamp's ring, a line
  across the form) lying at least DETACHED_MM away from every other stroke in the box and
  clearly lighter than the rest (another ink: grey, red or blue stamp ink beside the pen);
  ink at the edge touching or near the writing, or of the same ink as the rest (a stamp's
  own text may be the rest), keeps the field ``unsure``;
* ``fill_streaks``: a straight streak across the zone narrower than half the writing's
  stroke width, painted over by blending the columns (rows) on its two sides, so the
  strokes it crossed continue through it. A streak that narrow cannot hide a whole
  stroke; a wider one could (a ``1`` under it), and keeps the field ``unsure``.
"""

from __future__ import annotations

import cv2
import numpy as np

from retention_flow.ocr.register import MM_PER_INCH
from retention_flow.ocr.zones import Streak, ink_at_edge

#: a blob no larger than this square is a speck wherever it lies
SPECK_MM = 0.35
#: a blob no larger than this square (a written dot) above or below the writing is a speck
DOT_MM = 0.8
#: ink at the box's edge at least this far from every other stroke is not writing
DETACHED_MM = 1.5
#: ink within this distance of the box's inner edge "reaches the edge"
EDGE_BAND_MM = 0.6
#: ink at the edge is another ink when its median grey is this much lighter than the rest
OTHER_INK = 40
#: a streak is filled in when it is at most this share of the writing's stroke width
STREAK_STROKE_SHARE = 0.5


def _components(ink: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Labels of ``ink``'s blobs (8-connected) and their stats (x, y, w, h, area)."""
    _, labels, stats, _ = cv2.connectedComponentsWithStats(ink.astype(np.uint8), connectivity=8)
    return labels, stats


def drop_specks(ink: np.ndarray, dpi: float) -> np.ndarray:
    """``ink`` (bool) without specks (see the module docstring)."""
    if not ink.any():
        return ink
    labels, stats = _components(ink)
    k = dpi / MM_PER_INCH
    speck, dot = max(1, round(SPECK_MM * k)), max(2, round(DOT_MM * k))
    y, w, h = stats[:, 1], stats[:, 2], stats[:, 3]
    strokes = (h > dot) | (w > dot)
    strokes[0] = False
    drop = (w <= speck) & (h <= speck)
    if strokes.any():
        top, bottom = y[strokes].min(), (y + h)[strokes].max()
        drop |= (w <= dot) & (h <= dot) & ((y + h <= top) | (y >= bottom))
    drop[0] = False
    if not drop.any():
        return ink
    return np.asarray(ink & ~drop[labels], dtype=bool)


def detached_edge_ink(grey: np.ndarray, threshold: int, dpi: float) -> np.ndarray | None:
    """The mask of ink reaching the box's edge in ``grey`` (a normalised inside, ink at
    most ``threshold`` after a 3-pixel median) that lies at least DETACHED_MM from every
    other stroke and is lighter than the rest of the ink by OTHER_INK grey levels (another
    ink: a stamp's, not the pen's), when there is such ink and writing besides it; None
    otherwise (no ink at the edge, some of it near the writing, or of the same ink as the
    writing — a stamp's own text — then nothing is taken away)."""
    clean = cv2.medianBlur(np.ascontiguousarray(grey), 3)
    ink = clean <= threshold
    if not ink.any():
        return None
    k = dpi / MM_PER_INCH
    band = max(2, round(EDGE_BAND_MM * k))
    if not ink_at_edge(ink, band):
        return None
    labels, stats = _components(ink)
    height, width = ink.shape
    x, y, w, h = stats[:, 0], stats[:, 1], stats[:, 2], stats[:, 3]
    at_edge = (x < band) | (y < band) | (x + w > width - band) | (y + h > height - band)
    at_edge[0] = False
    if not at_edge.any() or at_edge[1:].all():
        return None
    edge = at_edge[labels]
    rest = ink & ~edge
    # distance of every pixel from the rest of the ink
    distance = cv2.distanceTransform(np.where(rest, 0, 255).astype(np.uint8), cv2.DIST_L2, 3)
    if float(distance[edge].min()) < DETACHED_MM * k:
        return None
    if float(np.median(clean[edge])) < float(np.median(clean[rest])) + OTHER_INK:
        return None
    return np.asarray(edge, dtype=bool)


def stroke_width(ink: np.ndarray) -> float:
    """The writing's stroke width in pixels: twice the median of the ink's largest
    distances from paper along its middle lines (0 without ink)."""
    if not ink.any():
        return 0.0
    padded = np.pad(ink.astype(np.uint8), 1)
    distance = cv2.distanceTransform(padded, cv2.DIST_L2, 3)
    ridge = (distance > 0) & (distance >= cv2.dilate(distance, np.ones((3, 3), np.uint8)))
    return 2.0 * float(np.median(distance[ridge])) if ridge.any() else 0.0


def fill_streaks(image: np.ndarray, found: list[Streak], stroke: float) -> np.ndarray | None:
    """A copy of ``image`` with every streak filled from its two sides (see the module
    docstring); None when a streak is too wide for that (or there is no stroke width)."""
    out = image.astype(np.float32)
    for s in found:
        if stroke <= 0 or (s.end - s.start) > STREAK_STROKE_SHARE * stroke:
            return None
        a, b = s.start - 1, s.end + 1  # its soft edge on each side is filled too
        vertical = s.axis == "vertical"
        size = image.shape[1] if vertical else image.shape[0]
        if a - 1 < 0 or b >= size:
            return None
        before = out[:, a - 1] if vertical else out[a - 1, :]
        after = out[:, b] if vertical else out[b, :]
        span = b - a + 1
        for i, pos in enumerate(range(a, b), start=1):
            t = i / span
            line = before * (1 - t) + after * t
            if vertical:
                out[:, pos] = line
            else:
                out[pos, :] = line
    return np.round(out).astype(np.uint8)
