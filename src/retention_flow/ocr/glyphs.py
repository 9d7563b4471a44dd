"""A second, independent reader for lines our own printer wrote: glyph matching.

The case-number line is printed by :mod:`retention_flow.ocr.forms` in a monospaced OCR font
(OCR-B, or Courier where OCR-B is missing) at a size the template names. Tesseract's general
model confuses that font's ``0``/``O``, ``5``/``S`` and now and then drops or invents a
character at the end of a line; a matcher that knows the font does not. References are
rendered once per (font size, dpi) through the very PDF path the forms are printed with, the
scanned line is cut into character cells at the font's pitch, and each cell is compared with
every reference by normalised cross-correlation (allowing a small shift).

Confidence per character: how far the best match stands above the second best; the line's
confidence is its least confident character (the same convention as Tesseract's reader).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
from fpdf import FPDF

from retention_flow.ocr.readers import LineRead

MM_PER_INCH = 25.4
#: a cell with fewer ink pixels than this share of its area holds no character (a space)
EMPTY_CELL = 0.01
#: best-minus-second correlation that counts as a fully confident character
FULL_MARGIN = 0.12
#: references re-tried with small shifts after the first, centre-aligned comparison
REFINE = 4
#: glyphs are compared at this share of the working resolution
SCALE = 0.5


@dataclass(frozen=True)
class GlyphSet:
    """Reference glyphs of one font at one size and resolution."""

    chars: str
    unit: np.ndarray  # (n, h, w) float32 at SCALE: blurred ink, zero mean, unit norm
    centroids: np.ndarray  # (n, 2): ink centre (row, column) of each glyph at SCALE
    pitch: float  # px per character (working resolution)
    height: int  # px of the reference line (working resolution)


def _soft(binary: np.ndarray) -> np.ndarray:
    """Blurred ink map at half resolution: correlation then tolerates a pixel of shift or
    stroke width, and costs a quarter."""
    blurred = cv2.GaussianBlur(binary.astype(np.float32), (5, 5), 1.0)
    return cv2.resize(blurred, None, fx=SCALE, fy=SCALE, interpolation=cv2.INTER_AREA)


def _unit(patches: np.ndarray) -> np.ndarray:
    """Zero-mean, unit-norm patches (the terms of normalised cross-correlation)."""
    centred = patches - patches.mean(axis=(-2, -1), keepdims=True)
    norm = np.sqrt((centred**2).sum(axis=(-2, -1), keepdims=True))
    return np.asarray(centred / np.maximum(norm, 1e-6), dtype=np.float32)


def _centroid(ink: np.ndarray) -> tuple[float, float]:
    ys, xs = np.nonzero(ink)
    return float(ys.mean()), float(xs.mean())


@lru_cache(maxsize=16)
def glyph_set(font_size_pt: float, dpi: float, alphabet: str, font_file: str | None) -> GlyphSet:
    """Render ``alphabet`` once, exactly as :func:`forms.render_pdf` prints a line in
    ``font_file`` (None: Courier, the printer's fallback)."""
    from retention_flow.ocr.forms import ocr_font_pdf  # forms imports this module's user
    from retention_flow.ocr.pages import rasterise_pdf

    chars = "".join(dict.fromkeys(c for c in alphabet if not c.isspace()))
    pdf: FPDF = ocr_font_pdf(font_size_pt, font_file)
    advance = pdf.get_string_width("0")
    margin = 5.0
    width = margin * 2 + advance * len(chars)
    height = margin * 2 + font_size_pt * 0.3528
    pdf.add_page(format=(width, height))
    pdf.text(margin, margin + font_size_pt * 0.3528 * 0.8, chars)
    page = np.asarray(rasterise_pdf(bytes(pdf.output()), dpi=round(dpi), max_pages=2)[-1])
    ink = page < 128
    rows = np.nonzero(ink.any(axis=1))[0]
    top, bottom = int(rows.min()), int(rows.max()) + 1
    k = dpi / MM_PER_INCH
    cell = round(advance * k)
    cells = [
        ink[top:bottom, x0 : x0 + cell]
        for x0 in (round((margin + i * advance) * k) for i in range(len(chars)))
    ]
    return GlyphSet(
        chars,
        _unit(np.stack([_soft(c) for c in cells])),
        np.array([_centroid(c) for c in cells]) * SCALE,
        advance * k,
        bottom - top,
    )


def _phase(columns: np.ndarray, pitch: float) -> float:
    """The cell grid offset whose boundaries cut through the least ink."""
    best, best_cost = 0.0, float("inf")
    for offset in np.arange(0.0, pitch, 1.0):
        cuts = np.round(np.arange(offset, len(columns), pitch)).astype(int)
        cost = float(columns[cuts[cuts < len(columns)]].sum())
        if cost < best_cost:
            best, best_cost = float(offset), cost
    return best


def _scores(
    windows: np.ndarray, glyphs: GlyphSet, rows: np.ndarray, cols: np.ndarray, which: np.ndarray
) -> np.ndarray:
    """Correlation of reference ``which[i]`` with the window at (rows[i], cols[i])."""
    rows = np.minimum(np.maximum(rows, 0), windows.shape[0] - 1)
    cols = np.minimum(np.maximum(cols, 0), windows.shape[1] - 1)
    patches = _unit(windows[rows, cols])
    return np.asarray(np.einsum("nhw,nhw->n", patches, glyphs.unit[which]))


def _classify(
    windows: np.ndarray, glyphs: GlyphSet, centres: np.ndarray, usable: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per glyph centre (rows of ``centres``, at SCALE): the best reference, its score and
    the second best score. Each reference is first placed on its own ink centre; the best
    few are then shifted by a pixel either way."""
    cells, refs = len(centres), len(usable)
    anchor = centres[:, None, :] - glyphs.centroids[usable][None, :, :]  # (cells, refs, 2)
    rows = np.round(anchor[..., 0]).astype(int)
    cols = np.round(anchor[..., 1]).astype(int)
    which = np.broadcast_to(usable, (cells, refs))
    first = _scores(windows, glyphs, rows.ravel(), cols.ravel(), which.ravel())
    first = first.reshape(cells, refs)
    keep = min(REFINE, refs)
    top = np.argsort(first, axis=1)[:, ::-1][:, :keep]  # (cells, keep)
    shifts = np.arange(-1, 2)
    dy, dx = (g.ravel() for g in np.meshgrid(shifts, shifts, indexing="ij"))
    pick = np.arange(cells)[:, None]
    top_rows = rows[pick, top][..., None] + dy  # (cells, keep, shifts)
    top_cols = cols[pick, top][..., None] + dx
    top_which = np.broadcast_to(usable[top][..., None], top_rows.shape)
    refined = _scores(windows, glyphs, top_rows.ravel(), top_cols.ravel(), top_which.ravel())
    scores = first.copy()
    scores[pick, top] = np.maximum(first[pick, top], refined.reshape(top_rows.shape).max(axis=2))
    order = np.argsort(scores, axis=1)[:, ::-1]
    best = scores[np.arange(cells), order[:, 0]]
    second = scores[np.arange(cells), order[:, 1]] if refs > 1 else np.full(cells, -1.0)
    return usable[order[:, 0]], best, second


def read_glyphs(ink: np.ndarray, glyphs: GlyphSet, allowed: str) -> LineRead:
    """Read a tight binary line (``ink`` True where printed) cell by cell."""
    usable = np.array([i for i, c in enumerate(glyphs.chars) if c in allowed])
    if not ink.any() or usable.size == 0:
        return LineRead("", 0.0)
    ref_h, cell = glyphs.height, round(glyphs.pitch)
    margin = cell
    padded = np.zeros((ink.shape[0] + 2 * ref_h, ink.shape[1] + 2 * margin), np.uint8)
    padded[ref_h : ref_h + ink.shape[0], margin : margin + ink.shape[1]] = ink
    windows = np.lib.stride_tricks.sliding_window_view(_soft(padded), glyphs.unit.shape[1:])
    columns = padded.sum(axis=0).astype(np.float64)
    x = _phase(columns, glyphs.pitch)
    layout: list[int | None] = []  # per cell: index into centres, or None for a space
    centres: list[tuple[float, float]] = []
    while x + cell <= padded.shape[1]:
        x0 = round(x)
        x += glyphs.pitch
        core = padded[:, x0 : x0 + cell]
        if core.sum() < EMPTY_CELL * ref_h * cell:
            layout.append(None)
            continue
        cy, cx = _centroid(core)
        layout.append(len(centres))
        centres.append((cy * SCALE, (cx + x0) * SCALE))
    if not centres:
        return LineRead("", 0.0)
    index, best, second = _classify(windows, glyphs, np.array(centres), usable)
    margin_share = np.clip((best - second) / FULL_MARGIN, 0.0, 1.0)
    confidence = 100.0 * margin_share * np.clip(best, 0.0, 1.0)
    text = "".join(" " if i is None else glyphs.chars[index[i]] for i in layout)
    return LineRead(" ".join(text.split()), float(confidence.min()))


class GlyphReader:
    """The glyph matcher behind the :class:`~retention_flow.ocr.readers.LineReader` Protocol,
    for lines printed in the OCR font at ``font_size_pt`` and read at ``dpi``."""

    name = "glyphs"

    def __init__(self, font_size_pt: float, dpi: float) -> None:
        self.font_size_pt = font_size_pt
        self.dpi = dpi

    def read_line(self, image: np.ndarray, whitelist: str) -> LineRead:
        ink = image < 128
        ys, xs = np.nonzero(ink)
        if ys.size == 0:
            return LineRead("", 0.0)
        tight = ink[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
        from retention_flow.ocr.forms import ocr_font_file

        glyphs = glyph_set(self.font_size_pt, self.dpi, whitelist, ocr_font_file())
        return read_glyphs(tight, glyphs, whitelist)
