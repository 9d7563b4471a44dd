"""Field reading: crop a field snapped to its printed box, clean it, read it with Tesseract."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from retention_flow.ocr.normalise import normalise
from retention_flow.ocr.readers import LineRead, LineReader
from retention_flow.ocr.register import MM_PER_INCH, Registered
from retention_flow.ocr.template import Box, OcrField

PAD_MM = 2.5
#: a printed box edge: a row/column whose middle part is at least this much ink
EDGE_MIN_INK = 0.5
#: a field with less ink than this (share of its inside) was left empty
EMPTY_INK = 0.002


@dataclass(frozen=True)
class Snapped:
    """The inside of a printed box within a crop (pixels), and whether its edges were found."""

    inner: np.ndarray
    edges_found: int  # 0-4
    bounds: tuple[int, int, int, int] = (0, 0, 0, 0)  # y0, y1, x0, x1 of inner in the crop


def _edge(profile: np.ndarray, lo: int, hi: int, inner_side: str) -> int | None:
    """The innermost row/column of the line in ``profile[lo:hi]``, or None."""
    window = profile[max(lo, 0) : max(min(hi, len(profile)), 0)]
    if window.size == 0 or window.max() < EDGE_MIN_INK:
        return None
    best = int(np.argmax(window))
    index = best
    step = 1 if inner_side == "after" else -1
    while 0 <= index + step < len(window) and window[index + step] >= EDGE_MIN_INK:
        index += step
    return max(lo, 0) + index


def snap(crop: np.ndarray, box: Box, pad_mm: float, dpi: float, threshold: int) -> Snapped:
    """Find the printed border of ``box`` in ``crop`` (box + pad) and return its inside."""
    k = dpi / MM_PER_INCH
    ink = crop <= threshold
    height, width = ink.shape
    pad = round(pad_mm * k)
    bx0, by0 = pad, pad
    bx1, by1 = width - pad, height - pad
    mid_cols = slice(bx0 + (bx1 - bx0) // 5, bx1 - (bx1 - bx0) // 5)
    mid_rows = slice(by0 + (by1 - by0) // 5, by1 - (by1 - by0) // 5)
    rows = ink[:, mid_cols].mean(axis=1)
    cols = ink[mid_rows, :].mean(axis=0)
    top = _edge(rows, by0 - pad, by0 + pad, "after")
    bottom = _edge(rows, by1 - pad, by1 + pad, "before")
    left = _edge(cols, bx0 - pad, bx0 + pad, "after")
    right = _edge(cols, bx1 - pad, bx1 + pad, "before")
    line = max(2, round(0.45 * k))
    margin = max(2, round(0.35 * k))
    y0 = (top + 1) if top is not None else by0 + line
    y1 = bottom if bottom is not None else by1 - line
    x0 = (left + 1) if left is not None else bx0 + line
    x1 = right if right is not None else bx1 - line
    found = sum(e is not None for e in (top, bottom, left, right))
    bounds = (y0 + margin, y1 - margin, x0 + margin, x1 - margin)
    inner = crop[bounds[0] : bounds[1], bounds[2] : bounds[3]]
    return Snapped(inner=inner, edges_found=found, bounds=bounds)


@dataclass(frozen=True)
class FieldRead:
    text: str
    confidence: float
    edges_found: int
    empty: bool
    #: the zone could not be judged (too dark, the engine failed): never accepted
    problem: str | None = None


#: preprocessing variants, tried in order while a field's validator refuses the reading
VARIANTS = ("binary", "grey", "binary_large")


def line_ink(inner: np.ndarray, threshold: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The median-filtered grey line and its ink mask, both cropped tight; None when empty."""
    if inner.size == 0:
        return None
    clean = cv2.medianBlur(inner, 3)
    ink = clean <= threshold
    if ink.mean() < EMPTY_INK:
        return None
    ys, xs = np.nonzero(ink)
    y0, y1 = int(ys.min()), int(ys.max()) + 1
    x0, x1 = int(xs.min()), int(xs.max()) + 1
    return clean[y0:y1, x0:x1], ink[y0:y1, x0:x1]


def prepare_line(inner: np.ndarray, threshold: int, variant: str = "binary") -> np.ndarray | None:
    """Median-filtered, tightly cropped, white-bordered line image; None when empty.

    ``binary`` (default) thresholds at the page's Otsu level, ``grey`` keeps the grey levels,
    ``binary_large`` also scales up by 1.5."""
    found = line_ink(inner, threshold)
    if found is None:
        return None
    grey, ink = found
    if variant == "grey":
        tight = grey
    else:
        tight = cv2.medianBlur(np.where(ink, 0, 255).astype(np.uint8), 3)
        if variant == "binary_large":
            tight = cv2.resize(tight, None, fx=1.5, fy=1.5, interpolation=cv2.INTER_LINEAR)
    border = max(10, ink.shape[0] // 3)
    return cv2.copyMakeBorder(tight, border, border, border, border, cv2.BORDER_CONSTANT, value=255)


def read_field(
    registered: Registered,
    field: OcrField,
    reader: LineReader,
    dpi: float,
    variant: str = "binary",
) -> FieldRead:
    crop = registered.crop(field.box, PAD_MM, dpi)
    norm = normalise(crop, dpi, registered.paper)
    snapped = snap(norm.image, field.box, PAD_MM, dpi, norm.threshold)
    problem = "too dark in this region to read (shadow or stain?)" if norm.too_dark else None
    line = prepare_line(snapped.inner, norm.threshold, variant)
    if line is None:
        return FieldRead("", 100.0, snapped.edges_found, empty=True, problem=problem)
    try:
        result: LineRead = reader.read_line(line, field.whitelist)
    except Exception as exc:
        return FieldRead(
            "", 0.0, snapped.edges_found, empty=False, problem=f"the OCR engine failed: {exc}"
        )
    text = " ".join(result.text.split())
    return FieldRead(text, result.confidence, snapped.edges_found, empty=False, problem=problem)
