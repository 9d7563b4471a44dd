"""Optical mark reading: tick boxes and signature presence by ink share, decided on the
locally normalised crop (see ocr/normalise.py), with an ``unsure`` band that goes to a person:

* the zone is too dark to judge (its paper much darker than the page's: a shadow wedge, a
  stain, a box coloured in) or its ink share is implausibly high (``saturated``);
* the share falls between "empty" and "marked", or within ``NEAR`` of either line;
* two independent cheap signals disagree: the share on the normalised crop and the share
  under a local-mean (adaptive) threshold of the raw crop say "marked" and "empty".

Nothing in that band is ever reported ``marked`` or ``empty``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from retention_flow.ocr.fields import PAD_MM, snap
from retention_flow.ocr.normalise import normalise
from retention_flow.ocr.register import Registered
from retention_flow.ocr.template import Box

MarkState = Literal["empty", "marked", "unsure"]
#: a share within this fraction of a line (empty_max, marked_min) is too close to call
NEAR = 0.2
#: ink shares no real tick / signature reaches: the zone is dark, not inked
SATURATED_BOX = 0.6
SATURATED_SIGNATURE = 0.3


@dataclass(frozen=True)
class BoxRead:
    density: float
    state: MarkState
    printed: bool  # the printed border was found (unused offer slots are not printed)
    reason: str | None = None  # why ``unsure``
    raw_density: float = 0.0  # the second signal: ink share under a local-mean threshold


def classify(density: float, empty_max: float, marked_min: float) -> MarkState:
    """The band decision alone: near either line is ``unsure`` too."""
    if density <= empty_max * (1 - NEAR):
        return "empty"
    if density >= marked_min * (1 + NEAR):
        return "marked"
    return "unsure"


def decide(
    density: float,
    raw_density: float,
    *,
    empty_max: float,
    marked_min: float,
    saturated: float,
    too_dark: bool,
) -> tuple[MarkState, str | None]:
    """The state of a box and, when ``unsure``, why (plain words)."""
    if too_dark:
        return "unsure", "too dark in this region to judge (shadow or stain?)"
    if density >= saturated or raw_density >= saturated:
        share = max(density, raw_density)
        return "unsure", f"implausibly much ink ({share:.0%} of the area: shadow or stain?)"
    state = classify(density, empty_max, marked_min)
    if state == "unsure":
        return state, f"ink share {density:.3f} too close to the line"
    raw_state = classify(raw_density, empty_max, marked_min)
    if {state, raw_state} == {"empty", "marked"}:
        return "unsure", (
            f"two measurements disagree (ink share {density:.3f} after evening out the "
            f"light, {raw_density:.3f} before)"
        )
    return state, None


#: ink within this distance of the box's inner edge "reaches the edge"
EDGE_BAND_MM = 0.6
#: ink blobs smaller than this square are specks, not strokes
SPECK_MM = 0.4


def crosses_edge(inner: np.ndarray, threshold: int, dpi: float) -> bool:
    """Whether a stroke (not a speck) inside the box reaches its printed edge: a stamp laid
    over the box, or a signature over the line — ink the box does not hold by itself."""
    if inner.size == 0:
        return False
    k = dpi / 25.4
    band = max(2, round(EDGE_BAND_MM * k))
    ink = (cv2.medianBlur(np.ascontiguousarray(inner), 3) <= threshold).astype(np.uint8)
    count, _, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    h, w = ink.shape
    least = (SPECK_MM * k) ** 2
    for x, y, bw, bh, area in stats[1:count]:
        if area >= least and (x < band or y < band or x + bw > w - band or y + bh > h - band):
            return True
    return False


def _core(inner: np.ndarray, inset: float) -> np.ndarray:
    h, w = inner.shape[:2]
    dy, dx = round(h * inset), round(w * inset)
    return inner[dy : h - dy, dx : w - dx]


def ink_density(inner: np.ndarray, threshold: int, inset: float) -> float:
    core = _core(inner, inset)
    if core.size == 0:
        return 0.0
    clean = cv2.medianBlur(np.ascontiguousarray(core), 3)
    return float((clean <= threshold).mean())


def adaptive_density(
    crop: np.ndarray, bounds: tuple[int, int, int, int], dpi: float, inset: float
) -> float:
    """The second signal: ink share under a local-mean threshold of the raw crop (block
    ~2.5 mm, offset 15 % of the local paper), inside the same bounds as the first."""
    if crop.size == 0:
        return 0.0
    block = max(3, round(2.5 * dpi / 25.4) | 1)
    offset = 0.15 * float(np.percentile(crop, 90))
    ink = cv2.adaptiveThreshold(
        np.ascontiguousarray(crop),
        255,
        cv2.ADAPTIVE_THRESH_MEAN_C,
        cv2.THRESH_BINARY,
        block,
        offset,
    )
    y0, y1, x0, x1 = bounds
    return ink_density(ink[y0:y1, x0:x1], 127, inset)


def read_box(
    registered: Registered,
    box: Box,
    *,
    inset: float,
    empty_max: float,
    marked_min: float,
    dpi: float,
    saturated: float = SATURATED_BOX,
    edge_check: bool = False,
) -> BoxRead:
    """One box's ink. ``edge_check`` (signatures): a mark that reaches the box's edge is
    not taken as present — a stamp over the box reads as much ink as a signature."""
    crop = registered.crop(box, PAD_MM, dpi)
    norm = normalise(crop, dpi, registered.paper)
    snapped = snap(norm.image, box, PAD_MM, dpi, norm.threshold)
    density = ink_density(snapped.inner, norm.threshold, inset)
    raw_density = adaptive_density(crop, snapped.bounds, dpi, inset)
    state, reason = decide(
        density,
        raw_density,
        empty_max=empty_max,
        marked_min=marked_min,
        saturated=saturated,
        too_dark=norm.too_dark,
    )
    if edge_check and state == "marked" and crosses_edge(snapped.inner, norm.threshold, dpi):
        state, reason = "unsure", "a mark runs across the box's edge (a stamp?)"
    return BoxRead(density, state, snapped.edges_found >= 3, reason, raw_density)
