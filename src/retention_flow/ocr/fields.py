"""Field reading: crop a field snapped to its printed box, clean it, read it with Tesseract."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from retention_flow.ocr.line_clean import (
    detached_edge_ink,
    drop_specks,
    fill_streaks,
    stroke_width,
)
from retention_flow.ocr.normalise import Normalised, normalise
from retention_flow.ocr.readers import LineRead, LineReader
from retention_flow.ocr.register import MM_PER_INCH, Registered
from retention_flow.ocr.template import Box, OcrField
from retention_flow.ocr.zones import (
    crosses_edge,
    erase_streaks,
    frame_contrast,
    ghost_continues_outside,
    ghost_ink,
    ghost_mask,
    ink_contrast,
    streak_touches_ink,
    streaks,
)

PAD_MM = 2.5
#: a printed box edge: a row/column whose middle part is at least this much ink
EDGE_MIN_INK = 0.5
#: a field with less ink than this (share of its inside) was left empty
EMPTY_INK = 0.002
#: writing covers at most this share of a text box's inside; more is a stain or a shadow
SATURATED_TEXT = 0.3
#: writing at least this share of the printed frame's contrast; lighter is a stamp's ink
TEXT_INK_CONTRAST = 0.55
#: an empty zone whose frame is fainter than this (0-1) may hold washed-out writing
FAINT_FRAME = 0.5
#: an empty zone with more ghost ink than this (washed-out strokes) is not empty
GHOST_MAX = 0.01
#: an empty zone under a faint frame at least this dark is empty when nothing in it is
#: darker than paper by FAINT_GHOST_SHARE of the frame's contrast (writing, faded as much
#: as the frame, keeps over half of it: see TEXT_INK_CONTRAST); fainter frames: unsure
FAINT_FRAME_FLOOR = 0.3
FAINT_GHOST_SHARE = 0.25


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
    #: what was taken off the zone before reading (ocr/line_clean.py): "edge ink",
    #: "streak"; a date read after that must be written out in full (no digit left off)
    cleaned: tuple[str, ...] = ()


#: preprocessing variants, tried in order while a field's validator refuses the reading
VARIANTS = ("binary", "grey", "binary_large")


def line_ink(inner: np.ndarray, threshold: int, dpi: float) -> tuple[np.ndarray, np.ndarray] | None:
    """The median-filtered grey line and its ink mask without specks (see
    ocr/line_clean.py; kept when nothing else is left), both cropped tight; None when
    empty."""
    if inner.size == 0:
        return None
    clean = cv2.medianBlur(inner, 3)
    ink = clean <= threshold
    if ink.mean() < EMPTY_INK:
        return None
    kept = drop_specks(ink, dpi)
    if kept is not ink and kept.any():
        clean = np.where(ink & ~kept, 255, clean).astype(np.uint8)
        ink = kept
    ys, xs = np.nonzero(ink)
    y0, y1 = int(ys.min()), int(ys.max()) + 1
    x0, x1 = int(xs.min()), int(xs.max()) + 1
    return clean[y0:y1, x0:x1], ink[y0:y1, x0:x1]


def prepare_line(
    inner: np.ndarray, threshold: int, variant: str = "binary", dpi: float = 300.0
) -> np.ndarray | None:
    """Median-filtered, tightly cropped, white-bordered line image; None when empty.

    ``binary`` (default) thresholds at the page's Otsu level, ``grey`` keeps the grey levels,
    ``binary_large`` also scales up by 1.5."""
    found = line_ink(inner, threshold, dpi)
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
    pad = round(PAD_MM * dpi / MM_PER_INCH)
    found = streaks(norm.image, norm.threshold, pad, dpi)
    image = erase_streaks(norm.image, found)  # a line across the whole zone is no writing
    snapped = snap(image, field.box, PAD_MM, dpi, norm.threshold)
    problem = "too dark in this region to read (shadow or stain?)" if norm.too_dark else None
    cleaned: list[str] = []
    crossing = any(
        streak_touches_ink(norm.image, norm.threshold, s, snapped.bounds, dpi) for s in found
    )
    if crossing and problem is None:
        filled = fill_streaks(norm.image, found, stroke_width(snapped.inner <= norm.threshold))
        if filled is not None:  # narrow streaks: the strokes they crossed go on through them
            image, crossing = filled, False
            snapped = snap(image, field.box, PAD_MM, dpi, norm.threshold)
            cleaned.append("streak")
    inner = snapped.inner
    # Lighter ink at the edge, well off the writing (a stamp's ring, a line) is taken off
    # only what our printer filled in (the case number: its check and the 2D code guard
    # it). On what the customer writes it stays a reason for a person: a two-colour
    # dater (a red frame, a blue date) on an empty date box would leave a date that is
    # no customer's once its frame is gone.
    detached = detached_edge_ink(inner, norm.threshold, dpi) if field.printed else None
    if detached is not None:
        grown = cv2.dilate(detached.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        inner = np.where(grown, 255, inner).astype(np.uint8)
        cleaned.append("edge ink")
    line = prepare_line(inner, norm.threshold, variant, dpi)
    if line is None:
        problem = problem or empty_zone_problem(
            image, inner, norm.threshold, pad, dpi, snapped.bounds
        )
        return FieldRead("", 100.0, snapped.edges_found, empty=True, problem=problem)
    problem = problem or written_zone_problem(image, inner, norm, pad, dpi, crossing)
    try:
        result: LineRead = reader.read_line(line, field.whitelist)
    except Exception as exc:
        return FieldRead(
            "", 0.0, snapped.edges_found, empty=False, problem=f"the OCR engine failed: {exc}"
        )
    text = " ".join(result.text.split())
    return FieldRead(
        text,
        result.confidence,
        snapped.edges_found,
        empty=False,
        problem=problem,
        cleaned=tuple(cleaned),
    )


def empty_zone_problem(
    image: np.ndarray,
    inner: np.ndarray,
    threshold: int,
    pad: int,
    dpi: float,
    bounds: tuple[int, int, int, int] | None = None,
) -> str | None:
    """Why a zone without ink may not be empty after all (None: it is empty). ``bounds``:
    where ``inner`` lies in ``image`` (y0, y1, x0, x1), to follow faint strokes across
    the frame."""
    frame = frame_contrast(image, pad, dpi)
    if frame < FAINT_FRAME and (
        frame < FAINT_FRAME_FLOOR
        or faint_share(inner, threshold, 255.0 * (1.0 - FAINT_GHOST_SHARE * frame)) > EMPTY_INK
    ):
        return (
            f"the printed frame is faint here (contrast {frame:.2f}: glare or faded print?), "
            "writing may be washed out"
        )
    if ghost_ink(inner, threshold) > GHOST_MAX and not (
        bounds is not None and ghost_continues_outside(image, threshold, bounds, pad, dpi)
    ):
        return "faint strokes that may be washed-out writing"
    return None


def faint_share(inner: np.ndarray, threshold: int, lightest: float) -> float:
    """Share of ``inner`` lighter than the ink threshold but darker than ``lightest``."""
    return float(ghost_mask(inner, threshold, lightest).mean()) if inner.size else 0.0


def written_zone_problem(
    image: np.ndarray, inner: np.ndarray, norm: Normalised, pad: int, dpi: float, streak: bool
) -> str | None:
    """Why the writing in a zone cannot be trusted whatever it reads (None: it can)."""
    if streak:
        return "a straight line (a scanner streak?) runs through the writing"
    share = float((inner <= norm.threshold).mean()) if inner.size else 0.0
    if share > SATURATED_TEXT:
        return f"implausibly much ink ({share:.0%} of the box: shadow or stain?)"
    if crosses_edge(inner, norm.threshold, dpi):
        return "ink runs into the box's edge (a stamp or a line across the field?)"
    frame = frame_contrast(image, pad, dpi)
    ink = ink_contrast(inner, norm.threshold)
    if ink < TEXT_INK_CONTRAST * frame:
        return (
            f"the writing is much lighter than the printed frame (contrast {ink:.2f} "
            f"against {frame:.2f}: a stamp?)"
        )
    return None
