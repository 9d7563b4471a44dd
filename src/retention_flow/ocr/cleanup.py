"""Cleaning a page before it is registered and read: scanner streaks and toner specks.

Streaks: a speck of dirt on a sheet-fed scanner's glass draws a thin dark line
down the whole page. Nothing printed on a form runs from top to bottom (the marks and
margins leave 10 mm paper at each edge), so such a line is dirt: it is found and painted
over with the paper beside it before the page is registered and read. Otherwise it crosses
boxes (a signature box "with a mark across its edge"), tick boxes and text.

A streak is a run of columns at most STREAK_MM wide, dark over nearly the whole height,
with columns on both sides that are not; a wide dark band (the desk beside a photographed
page, a shadow) is not a streak and is left alone.

Specks: a dirty copier or fax sprinkles thousands of isolated dots of a few pixels over the
page; each read field then holds stray "ink" (a speck in a date box reads as a stroke). A
page is speckled when a strip across its middle holds many dark blobs no larger than
SPECK_MM square (the smallest print, a full stop, is several times larger); on such a page
alone every such blob is painted over with paper. A clean page costs one strip's count.
"""

from __future__ import annotations

import cv2
import numpy as np

MM_PER_INCH = 25.4
#: a column darker than this grey level over DARK_SHARE of its height is a streak's
DARK_LEVEL = 110
DARK_SHARE = 0.9
#: the columns beside a streak are dark over less than this share of the height
BESIDE_SHARE = 0.5
#: streaks are at most this wide (wider: a shadow, a fold, the desk)
STREAK_MM = 1.2
#: rows sampled to find streaks (every n-th)
ROW_STEP = 4


def streak_columns(gray: np.ndarray, dpi: float) -> list[tuple[int, int]]:
    """The streaks' column ranges ``[start, end)``."""
    if gray.ndim != 2 or gray.shape[1] < 3:
        return []
    dark = (gray[::ROW_STEP] <= DARK_LEVEL).mean(axis=0)
    flagged = dark >= DARK_SHARE
    widest = max(1, round(STREAK_MM * dpi / MM_PER_INCH))
    width = gray.shape[1]
    runs: list[tuple[int, int]] = []
    x = 0
    while x < width:
        if not flagged[x]:
            x += 1
            continue
        start = x
        while x < width and flagged[x]:
            x += 1
        left, right = start - 1, x
        if (
            x - start <= widest
            and left >= 0
            and right < width
            and dark[left] < BESIDE_SHARE
            and dark[right] < BESIDE_SHARE
        ):
            runs.append((start, x))
    return runs


def remove_streaks(gray: np.ndarray, dpi: float) -> np.ndarray:
    """``gray`` with every streak painted over by the columns beside it (blended across
    its width); the same array when there is none (nothing copied)."""
    runs = streak_columns(gray, dpi)
    if not runs:
        return gray
    out = gray.copy()
    for start, end in runs:
        left = gray[:, start - 1].astype(np.float32)
        right = gray[:, end].astype(np.float32)
        span = end - start + 1
        for i, x in enumerate(range(start, end), start=1):
            t = i / span
            out[:, x] = np.round(left * (1 - t) + right * t).astype(np.uint8)
    return out


#: a dark blob this small (square side) is a speck, not print
SPECK_MM = 0.26
#: a page is speckled when the middle strip holds more specks than this per 10 cm²
SPECKS_PER_AREA = 20
#: the strip sampled to tell whether the page is speckled (share of the height)
STRIP = 0.05


def _specks(binary: np.ndarray, largest: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels of ``binary``'s blobs and which labels are specks (area <= largest² pixels,
    no side longer than ``largest``)."""
    _, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    w, h, area = stats[:, 2], stats[:, 3], stats[:, 4]
    speck = (w <= largest) & (h <= largest) & (area <= largest * largest)
    speck[0] = False  # the background
    return labels, speck


def remove_specks(gray: np.ndarray, dpi: float) -> np.ndarray:
    """``gray`` with isolated specks painted with the paper's level when the page is
    speckled (see the module docstring); the same array otherwise."""
    if gray.ndim != 2 or gray.size == 0:
        return gray
    largest = max(1, round(SPECK_MM * dpi / MM_PER_INCH))
    height = gray.shape[0]
    top = round(height * (0.5 - STRIP / 2))
    strip = gray[top : top + max(1, round(height * STRIP))]
    _, speck = _specks((strip <= DARK_LEVEL).astype(np.uint8), largest)
    strip_cm2 = strip.size / (dpi / MM_PER_INCH * 10) ** 2
    if int(speck.sum()) <= SPECKS_PER_AREA * strip_cm2 / 10:
        return gray
    labels, speck = _specks((gray <= DARK_LEVEL).astype(np.uint8), largest)
    mask = speck[labels]
    # the paper around each speck: the brightest level within a speck's reach (a speck in
    # a shadow becomes shadowed paper, not white)
    side = 2 * largest + 1
    around = cv2.dilate(gray, cv2.getStructuringElement(cv2.MORPH_RECT, (side, side)))
    out = gray.copy()
    out[mask] = around[mask]
    return out


def clean_page(gray: np.ndarray, dpi: float) -> np.ndarray:
    """The page without streaks and specks (the same array when it has neither)."""
    return remove_specks(remove_streaks(gray, dpi), dpi)
