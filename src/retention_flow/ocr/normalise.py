"""Local normalisation of a field's crop: the paper's brightness is estimated per zone and
divided out, so a shadow, a yellowed patch or uneven light does not look like ink.

* background: a grey-level *closing* (max filter, then min filter) with a kernel wider than
  any pen stroke, smoothed — what the paper would show without the ink;
* normalised crop: ``crop / background`` scaled to 255 (paper → ~255, ink → dark);
* ink: darker than a threshold chosen on the normalised crop (Otsu, kept within bounds so
  pure paper never yields ink and faint toner still does);
* ``paper``: the darkest paper level estimated in the zone, relative to the page's paper.
  A zone whose paper is much darker than the page's (a shadow wedge, a stain, a filled-in
  area) cannot be decided by ink share: the callers make it ``unsure``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from retention_flow.ocr.levels import otsu
from retention_flow.ocr.register import MM_PER_INCH

#: the background kernel: wider than a pen stroke or a tick, narrower than a shadow
BACKGROUND_MM = 4.0
#: the ink threshold on the normalised crop stays within these grey levels
THRESHOLD_MIN, THRESHOLD_MAX = 110, 200
#: a zone whose paper is darker than this share of the page's paper is too dark to decide
DARK_PAPER = 0.55


@dataclass(frozen=True)
class Normalised:
    image: np.ndarray  # uint8, paper ~255
    threshold: int  # ink: image <= threshold
    paper: float  # the zone's darkest paper level / the page's paper level (0-1+)

    @property
    def too_dark(self) -> bool:
        return self.paper < DARK_PAPER


def background(crop: np.ndarray, dpi: float) -> np.ndarray:
    """The paper's grey level at every pixel of ``crop`` (float32), estimated at 1/4 scale."""
    return _background(crop, dpi)[0]


def _background(crop: np.ndarray, dpi: float) -> tuple[np.ndarray, float]:
    """:func:`background` and its darkest level (2nd percentile, on the 1/4 scale map)."""
    small = cv2.resize(crop, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA)
    if small.size == 0:
        return np.full(crop.shape, 255.0, dtype=np.float32), 255.0
    side = max(3, round(BACKGROUND_MM * dpi / MM_PER_INCH / 4) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (side, side))
    closed = cv2.morphologyEx(small, cv2.MORPH_CLOSE, kernel, borderType=cv2.BORDER_REPLICATE)
    smooth = cv2.blur(closed, (side, side), borderType=cv2.BORDER_REPLICATE)
    full = cv2.resize(smooth, (crop.shape[1], crop.shape[0]), interpolation=cv2.INTER_LINEAR)
    darkest = max(float(np.partition(smooth.ravel(), smooth.size // 50)[smooth.size // 50]), 1.0)
    return np.maximum(full.astype(np.float32), 1.0), darkest


def normalise(crop: np.ndarray, dpi: float, page_paper: float = 255.0) -> Normalised:
    """``crop`` with its local background divided out, its ink threshold and paper level."""
    if crop.size == 0:
        return Normalised(crop, THRESHOLD_MIN, 1.0)
    bg, darkest = _background(crop, dpi)
    image = np.clip(crop.astype(np.float32) / bg * 255.0, 0, 255).astype(np.uint8)
    threshold, spread = otsu(image)
    if spread < 40:  # no ink to split off: only paper (and its noise)
        threshold = THRESHOLD_MIN
    threshold = int(min(max(threshold, THRESHOLD_MIN), THRESHOLD_MAX))
    paper = darkest / max(page_paper, 1.0)
    return Normalised(image, threshold, paper)
