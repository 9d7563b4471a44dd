"""What a zone's pixels say about whether its ink can be trusted, measured on the locally
normalised crop (box + pad; paper ~255, see ocr/normalise.py) of a text field, tick box or
signature box. Each check is cheap and independent of the reading itself:

* ``frame_contrast``: how dark the printed frame is at its faintest stretch (1 black, 0
  gone). Glare or faded toner that washes the frame out washes writing out too, so an
  "empty" zone under a faint frame cannot be told from a filled one;
* ``streaks``: straight lines running across the whole crop, through the frame and beyond
  it (a dirty scanner glass, a double-fed sheet's edge, a pen line), and white lines that
  cut the frame at the same place above and below (a streak that drops ink out). A line
  that touches the writing can change a digit (a 6 with a line through it reads 4);
* ``ink_contrast``: how dark the zone's ink is (its median grey), which compared with the
  frame tells a stamp (red, blue, grey rubber-stamp ink) from pen and print;
* ``ghost_ink``: the share of the zone darker than clean paper but lighter than the ink
  threshold: writing washed out to a ghost.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from retention_flow.ocr.register import MM_PER_INCH

#: a line across the crop has ink on at least this share of its length
STREAK_SPAN = 0.9
#: a white streak cuts the frame: the frame line at that place is lighter than this
FRAME_GAP_GREY = 200
#: the frame's search window on each side of where it should be, and the stretch
#: (along the side) over which its faintness is measured
FRAME_WINDOW_MM = 1.2
FRAME_STRETCH_MM = 1.5
#: the faintest share of the frame: its 95th percentile of lightness along the sides
FRAME_FAINT_PERCENTILE = 95
#: grey levels between clean paper and ink: "ghost" writing
GHOST_GREY = 225


@dataclass(frozen=True)
class Streak:
    axis: str  # "vertical" or "horizontal"
    start: int  # first column / row in the crop
    end: int  # one past the last
    dark: bool  # a dark line (False: a white line cutting the frame)


def _profile_faintest(lines: np.ndarray, stretch: int) -> float:
    """The frame's faintest stretch: ``lines`` is (window, length) grey levels across the
    side; the darkest level across the window at each place, smoothed over ``stretch``."""
    if lines.size == 0:
        return 255.0
    darkest = lines.min(axis=0).astype(np.float32)
    if darkest.size > stretch > 1:
        darkest = np.convolve(darkest, np.ones(stretch) / stretch, mode="valid")
    return float(np.percentile(darkest, FRAME_FAINT_PERCENTILE))


def frame_contrast(image: np.ndarray, pad_px: int, dpi: float) -> float:
    """The printed frame's contrast at its faintest stretch (1: black, 0: not there), from
    the normalised crop whose frame lies ``pad_px`` inside each edge."""
    h, w = image.shape[:2]
    k = dpi / MM_PER_INCH
    win = max(2, round(FRAME_WINDOW_MM * k))
    stretch = max(2, round(FRAME_STRETCH_MM * k))
    inner_w, inner_h = w - 2 * pad_px, h - 2 * pad_px
    if inner_w <= 4 * win or inner_h <= 4 * win:
        return 0.0
    xs = slice(pad_px + inner_w // 10, w - pad_px - inner_w // 10)
    ys = slice(pad_px + inner_h // 10, h - pad_px - inner_h // 10)
    sides = (
        image[max(pad_px - win, 0) : pad_px + win, xs],
        image[h - pad_px - win : h - pad_px + win, xs],
        image[ys, max(pad_px - win, 0) : pad_px + win].T,
        image[ys, w - pad_px - win : w - pad_px + win].T,
    )
    faintest = max(_profile_faintest(side, stretch) for side in sides)
    return max(0.0, (255.0 - faintest) / 255.0)


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) of each run of True in a 1-D array."""
    padded = np.concatenate([[False], flags, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def streaks(image: np.ndarray, threshold: int, pad_px: int, dpi: float) -> list[Streak]:
    """Straight lines across the crop inside the box's sides (see the module docstring).

    Dark: a column (row) inked on at least STREAK_SPAN of the crop's full height (width),
    the pad outside the frame included — nothing written or printed inside a box does that.
    White: a column where the frame's top and bottom lines both break (a streak that drops
    ink out), and likewise for rows."""
    h, w = image.shape[:2]
    if h <= 2 * pad_px or w <= 2 * pad_px:
        return []
    k = dpi / MM_PER_INCH
    edge = max(2, round(1.2 * k))  # keep clear of the frame's own sides (registration error)
    ink = cv2.medianBlur(np.ascontiguousarray(image), 3) <= threshold
    found: list[Streak] = []
    x_in = slice(pad_px + edge, w - pad_px - edge)
    y_in = slice(pad_px + edge, h - pad_px - edge)
    for axis, share, offset in (
        ("vertical", ink[:, x_in].mean(axis=0), x_in.start),
        ("horizontal", ink[y_in, :].mean(axis=1), y_in.start),
    ):
        found += [
            Streak(axis, a + offset, b + offset, True) for a, b in _runs(share >= STREAK_SPAN)
        ]
    win = max(2, round(FRAME_WINDOW_MM * k))
    top = image[max(pad_px - win, 0) : pad_px + win, x_in].min(axis=0)
    bottom = image[h - pad_px - win : h - pad_px + win, x_in].min(axis=0)
    gaps = (top > FRAME_GAP_GREY) & (bottom > FRAME_GAP_GREY)
    found += [Streak("vertical", a + x_in.start, b + x_in.start, False) for a, b in _runs(gaps)]
    left = image[y_in, max(pad_px - win, 0) : pad_px + win].min(axis=1)
    right = image[y_in, w - pad_px - win : w - pad_px + win].min(axis=1)
    gaps = (left > FRAME_GAP_GREY) & (right > FRAME_GAP_GREY)
    found += [Streak("horizontal", a + y_in.start, b + y_in.start, False) for a, b in _runs(gaps)]
    return found


def streak_touches_ink(
    image: np.ndarray, threshold: int, streak: Streak, bounds: tuple[int, int, int, int], dpi: float
) -> bool:
    """Whether writing (ink inside ``bounds``: y0, y1, x0, x1 of the box's inside) lies
    beside ``streak`` within about 0.5 mm (past the line's own soft pixel): the line may
    have changed a character there."""
    y0, y1, x0, x1 = bounds
    near = max(2, round(0.5 * dpi / MM_PER_INCH))
    ink = cv2.medianBlur(np.ascontiguousarray(image), 3) <= threshold
    a, b = streak.start - 1, streak.end + 1
    if streak.axis == "vertical":
        left = ink[y0:y1, max(a - near, x0) : max(a, x0)]
        right = ink[y0:y1, min(b, x1) : min(b + near, x1)]
    else:
        left = ink[max(a - near, y0) : max(a, y0), x0:x1]
        right = ink[min(b, y1) : min(b + near, y1), x0:x1]
    return bool(left.any() or right.any())


def ink_contrast(inner: np.ndarray, threshold: int) -> float:
    """The contrast of the ink in ``inner`` (normalised): (255 - its median grey) / 255;
    0 when it holds no ink."""
    ink = inner[inner <= threshold]
    if ink.size == 0:
        return 0.0
    return (255.0 - float(np.median(ink))) / 255.0


def ghost_ink(inner: np.ndarray, threshold: int) -> float:
    """Share of ``inner`` (normalised) lighter than the ink threshold but darker than clean
    paper, after a 5-pixel median (paper noise and JPEG ringing do not survive it)."""
    if inner.size == 0:
        return 0.0
    clean = cv2.medianBlur(np.ascontiguousarray(inner), 5)
    return float(((clean > threshold) & (clean < GHOST_GREY)).mean())


def erase_streaks(image: np.ndarray, found: list[Streak], paper: float = 255.0) -> np.ndarray:
    """A copy of ``image`` with the dark streaks painted over in ``paper`` (one pixel wider
    on each side, for their soft edges): a line across the whole crop is no mark."""
    out = image.copy()
    for s in found:
        if not s.dark:
            continue
        a, b = max(s.start - 1, 0), s.end + 1
        if s.axis == "vertical":
            out[:, a:b] = paper
        else:
            out[a:b, :] = paper
    return out


#: ink within this distance of a box's inner edge "reaches the edge"
EDGE_BAND_MM = 0.6
#: ink blobs smaller than this square are specks, not strokes
SPECK_MM = 0.4


def crosses_edge(inner: np.ndarray, threshold: int, dpi: float) -> bool:
    """Whether a stroke (not a speck) inside the box reaches its printed edge: a stamp laid
    over the box, or a line drawn across it — ink the box does not hold by itself."""
    if inner.size == 0:
        return False
    k = dpi / MM_PER_INCH
    band = max(2, round(EDGE_BAND_MM * k))
    ink = (cv2.medianBlur(np.ascontiguousarray(inner), 3) <= threshold).astype(np.uint8)
    if not ink_at_edge(ink, band):  # no blob can reach the edge: nothing to label
        return False
    count, _, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    h, w = ink.shape
    least = (SPECK_MM * k) ** 2
    for x, y, bw, bh, area in stats[1:count]:
        if area >= least and (x < band or y < band or x + bw > w - band or y + bh > h - band):
            return True
    return False


def ink_at_edge(ink: np.ndarray, band: int) -> bool:
    """Whether any ink lies within ``band`` pixels of the edge of ``ink`` (a mask)."""
    return bool(
        ink[:band].any() or ink[-band:].any() or ink[:, :band].any() or ink[:, -band:].any()
    )


#: a straight segment at least this long is ruled, not written (a stamp's frame)
RULED_MM = 12.0


def ruled_corner(inner: np.ndarray, threshold: int, dpi: float) -> bool:
    """Whether the ink holds two long straight segments at about right angles: a rubber
    stamp's frame. A pen signature is curved; one straight underline is not enough."""
    if inner.size == 0:
        return False
    k = dpi / MM_PER_INCH
    ink = (cv2.medianBlur(np.ascontiguousarray(inner), 3) <= threshold).astype(np.uint8)
    thin = cv2.morphologyEx(ink, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
    lines = cv2.HoughLinesP(
        thin * 255,
        1,
        np.pi / 180,
        threshold=round(RULED_MM * k * 0.6),
        minLineLength=round(RULED_MM * k),
        maxLineGap=round(1.0 * k),
    )
    if lines is None:
        return False
    segments = lines.reshape(-1, 4)
    angles = [float(np.degrees(np.arctan2(y1 - y0, x1 - x0))) % 180 for x0, y0, x1, y1 in segments]
    return any(
        abs(((a - b) % 180) - 90) <= 15 for i, a in enumerate(angles) for b in angles[i + 1 :]
    )


#: a ghost stroke inside the box "continues outside" when ghost ink lies beyond the frame
#: (past its search window) within this distance along the side, on the same side
GHOST_ACROSS_MM = 2.5


def ghost_mask(image: np.ndarray, threshold: int, lightest: float = GHOST_GREY) -> np.ndarray:
    """Pixels darker than ``lightest`` but lighter than the ink threshold, after a
    5-pixel median: ghost strokes (see :func:`ghost_ink`)."""
    clean = cv2.medianBlur(np.ascontiguousarray(image), 5)
    return (clean > threshold) & (clean < lightest)


def ghost_continues_outside(
    image: np.ndarray, threshold: int, bounds: tuple[int, int, int, int], pad_px: int, dpi: float
) -> bool:
    """Whether every ghost stroke inside the box (``bounds``: y0, y1, x0, x1 of its
    inside in the normalised crop) reaches the box's edge and goes on beyond the printed
    frame on that side: faint marks laid across the box, not inside it (the reverse's
    print showing through thin paper). Writing, even washed out, stays inside its box.
    False when a ghost stroke stays inside, or touches the edge where nothing goes on."""
    ghost = ghost_mask(image, threshold)
    # the soft edges of printed ink (the frame, the field's label) are no ghost strokes
    ink = cv2.medianBlur(np.ascontiguousarray(image), 5) <= threshold
    ghost &= cv2.dilate(ink.astype(np.uint8), np.ones((7, 7), np.uint8)) == 0
    y0, y1, x0, x1 = bounds
    inside = ghost[y0:y1, x0:x1]
    if not inside.any():
        return True
    k = dpi / MM_PER_INCH
    band = max(2, round(EDGE_BAND_MM * k))
    across = max(2, round(GHOST_ACROSS_MM * k))
    beyond = pad_px - max(2, round(FRAME_WINDOW_MM * k))  # outside the frame's window
    if beyond < 2:
        return False
    h, w = image.shape[:2]
    count, labels = cv2.connectedComponents(inside.astype(np.uint8), connectivity=8)
    ih, iw = inside.shape
    for label in range(1, count):
        part = labels == label
        sides = (
            (part[:band, :].any(axis=0), ghost[:beyond, x0:x1].T),
            (part[ih - band :, :].any(axis=0), ghost[h - beyond :, x0:x1].T),
            (part[:, :band].any(axis=1), ghost[y0:y1, :beyond]),
            (part[:, iw - band :].any(axis=1), ghost[y0:y1, w - beyond :]),
        )
        if not any(_goes_on(touch, outside, across) for touch, outside in sides):
            return False
    return True


def _goes_on(touch: np.ndarray, outside: np.ndarray, across: int) -> bool:
    """Whether ghost ink lies ``outside`` (positions along the side x depth) within
    ``across`` of every position where the stroke ``touch``-es the side."""
    if not touch.any():
        return False
    near = np.convolve(outside.any(axis=1).astype(np.float32), np.ones(2 * across + 1), "same")
    return bool((near[touch] > 0).all())
