"""Grey levels of a page or a crop: Otsu's ink threshold and the paper's level."""

from __future__ import annotations

import cv2
import numpy as np


def page_levels(gray: np.ndarray) -> tuple[int, float]:
    """The page's ink threshold (Otsu) and its paper grey level (the bright 95th
    percentile), from every 3rd pixel of every 3rd row: a sample, not a resized copy, so
    thin strokes keep their grey levels, at a ninth of the cost."""
    hist = _histogram(gray[::3, ::3])
    threshold, _ = otsu_of(hist)
    share = np.cumsum(hist) / max(float(hist.sum()), 1.0)
    paper = float(np.searchsorted(share, 0.95))
    return threshold, paper


def _histogram(gray: np.ndarray) -> np.ndarray:
    hist = cv2.calcHist([np.ascontiguousarray(gray)], [0], None, [256], [0, 256]).ravel()
    return hist.astype(np.float64)


def otsu(gray: np.ndarray) -> tuple[int, float]:
    """Otsu's threshold and the spread between the two classes' mean grey levels."""
    return otsu_of(_histogram(gray))


def otsu_of(hist: np.ndarray) -> tuple[int, float]:
    """:func:`otsu` from a 256-bin histogram."""
    total = hist.sum()
    levels = np.arange(256, dtype=np.float64)
    weight = np.cumsum(hist)
    mass = np.cumsum(hist * levels)
    w0 = weight[:-1]
    w1 = total - w0
    valid = (w0 > 0) & (w1 > 0)
    mean0 = np.where(valid, mass[:-1] / np.maximum(w0, 1), 0)
    mean1 = np.where(valid, (mass[-1] - mass[:-1]) / np.maximum(w1, 1), 0)
    between = np.where(valid, w0 * w1 * (mean0 - mean1) ** 2, -1)
    t = int(np.argmax(between))
    if between[t] <= 0:
        return 127, 0.0
    return t, float(mean1[t] - mean0[t])
