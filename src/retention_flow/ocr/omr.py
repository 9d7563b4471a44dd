"""Optical mark reading: tick boxes and signature presence by ink density.

The page's Otsu threshold separates ink from paper; a median filter removes scanner speckle.
Between the "empty" and the "marked" density lies an uncertainty band: such a box is
reported ``unsure`` and goes to a person, never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from retention_flow.ocr.fields import PAD_MM, snap
from retention_flow.ocr.register import Registered
from retention_flow.ocr.template import Box

MarkState = Literal["empty", "marked", "unsure"]


@dataclass(frozen=True)
class BoxRead:
    density: float
    state: MarkState
    printed: bool  # the printed border was found (unused offer slots are not printed)


def classify(density: float, empty_max: float, marked_min: float) -> MarkState:
    if density <= empty_max:
        return "empty"
    if density >= marked_min:
        return "marked"
    return "unsure"


def ink_density(inner: np.ndarray, threshold: int, inset: float) -> float:
    if inner.size == 0:
        return 0.0
    h, w = inner.shape
    dy, dx = round(h * inset), round(w * inset)
    core = inner[dy : h - dy, dx : w - dx]
    if core.size == 0:
        return 0.0
    clean = cv2.medianBlur(np.ascontiguousarray(core), 3)
    return float((clean <= threshold).mean())


def read_box(
    registered: Registered,
    box: Box,
    *,
    inset: float,
    empty_max: float,
    marked_min: float,
    dpi: float,
) -> BoxRead:
    crop = registered.crop(box, PAD_MM, dpi)
    snapped = snap(crop, box, PAD_MM, dpi, registered.ink_threshold)
    density = ink_density(snapped.inner, registered.ink_threshold, inset)
    return BoxRead(density, classify(density, empty_max, marked_min), snapped.edges_found >= 3)
