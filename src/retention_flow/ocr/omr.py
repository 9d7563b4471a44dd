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
from retention_flow.ocr.normalise import Normalised, normalise
from retention_flow.ocr.register import MM_PER_INCH, Registered
from retention_flow.ocr.template import Box
from retention_flow.ocr.zones import (
    crosses_edge,
    erase_streaks,
    frame_contrast,
    ghost_ink,
    ink_contrast,
    ruled_corner,
    streaks,
)

MarkState = Literal["empty", "marked", "unsure"]
#: a share within this fraction of a line (empty_max, marked_min) is too close to call
NEAR = 0.2
#: ink shares no real tick / signature reaches: the zone is dark, not inked
SATURATED_BOX = 0.6
SATURATED_SIGNATURE = 0.3
#: a signature's ink is at least this share of its frame's contrast: lighter ink is a
#: stamp's (red, blue, grey rubber-stamp ink), not a pen's
SIGNATURE_INK_CONTRAST = 0.6
#: an "empty" box whose frame is fainter than this (0-1) may hold washed-out ink
FAINT_FRAME = 0.5
#: an "empty" box with more ghost ink than this (washed-out strokes) is not empty
GHOST_MAX = 0.01


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
    not taken as present — a stamp over the box reads as much ink as a signature — nor is
    ink much lighter than the printed frame, and an "empty" box under a faint frame or with
    washed-out strokes is unsure. Straight lines across the whole crop (scanner streaks)
    are painted out before the ink is measured: they are no mark."""
    crop = registered.crop(box, PAD_MM, dpi)
    norm = normalise(crop, dpi, registered.paper)
    pad = round(PAD_MM * dpi / MM_PER_INCH)
    found = [s for s in streaks(norm.image, norm.threshold, pad, dpi) if s.dark]
    image = erase_streaks(norm.image, found)
    raw = erase_streaks(crop, found, float(np.percentile(crop, 90))) if found else crop
    snapped = snap(image, box, PAD_MM, dpi, norm.threshold)
    density = ink_density(snapped.inner, norm.threshold, inset)
    raw_density = adaptive_density(raw, snapped.bounds, dpi, inset)
    state, reason = decide(
        density,
        raw_density,
        empty_max=empty_max,
        marked_min=marked_min,
        saturated=saturated,
        too_dark=norm.too_dark,
    )
    if edge_check:
        state, reason = _signature_checks(state, reason, image, snapped.inner, norm, pad, dpi)
    return BoxRead(density, state, snapped.edges_found >= 3, reason, raw_density)


def _signature_checks(
    state: MarkState,
    reason: str | None,
    image: np.ndarray,
    inner: np.ndarray,
    norm: Normalised,
    pad: int,
    dpi: float,
) -> tuple[MarkState, str | None]:
    """A signature box's state after the checks a signature needs beyond its ink share."""
    if state == "marked":
        if crosses_edge(inner, norm.threshold, dpi):
            return "unsure", "a mark runs across the box's edge (a stamp?)"
        if ruled_corner(inner, norm.threshold, dpi):
            return "unsure", "straight ruled lines at right angles: a stamp's frame, not a pen"
        frame = frame_contrast(image, pad, dpi)
        ink = ink_contrast(inner, norm.threshold)
        if ink < SIGNATURE_INK_CONTRAST * frame:
            return "unsure", (
                f"the mark is much lighter than the printed frame (contrast {ink:.2f} "
                f"against {frame:.2f}: a stamp?)"
            )
    elif state == "empty":
        frame = frame_contrast(image, pad, dpi)
        if frame < FAINT_FRAME:
            return "unsure", (
                f"the printed frame is faint here (contrast {frame:.2f}: glare or faded "
                "print?), a signature may be washed out"
            )
        if ghost_ink(inner, norm.threshold) > GHOST_MAX:
            return "unsure", "faint strokes that may be a washed-out signature"
    return state, reason
