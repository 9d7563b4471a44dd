"""Finding the four printed corner marks on a page, and the shape gates of the quadrilateral
they form.

A scan shows the page filling the image, so each mark lies near where the page size puts it
(:func:`near_expected`). A photo shows the page on a desk, off-centre and in perspective:
the marks are then the mark-shaped blobs farthest toward the image's four corners
(:func:`toward_corners`). Either way the four must form a quadrilateral a flat page can
show (:func:`quad_problem`): convex, turning the same way as the template's marks (a
mirrored page or a folded-over corner turns the other way), not collapsed, with the
proportions of the form; and each blob must be about as large as a mark is at that place.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from retention_flow.ocr.levels import otsu
from retention_flow.ocr.perspective import jacobian
from retention_flow.ocr.refusal import RegistrationFailed
from retention_flow.ocr.template import Mark

#: a blob's size may differ this much from the mark's expected size (print, blur, angle)
SIZE_RANGE = (0.6, 1.5)
#: the marks' quadrilateral: its width / height may differ this much from the template's
MAX_ASPECT_CHANGE = 0.3
#: each angle of the quadrilateral stays within this of the template's (90° for corners)
MAX_CORNER_CHANGE_DEG = 15.0


@dataclass(frozen=True)
class Found:
    """A blob that looks like a mark: its centre and size (pixels), ring or solid."""

    x: float
    y: float
    ring: bool
    size: float = 0.0


def candidates(binary: np.ndarray, side_px: float) -> list[Found]:
    """Square blobs of about ``side_px`` (solid, or a ring: a square with a hole)."""
    count, labels, stats, centroids = cv2.connectedComponentsWithStats(binary, connectivity=8)
    found = []
    low, high = SIZE_RANGE
    for i in range(1, count):
        _, _, w, h, area = stats[i]
        if not (low * side_px <= w <= high * side_px and low * side_px <= h <= high * side_px):
            continue
        if not 0.75 <= w / h <= 1.33 or area / (w * h) < 0.55:
            continue
        cx, cy = centroids[i]
        # a ring's centre is paper, a solid square's is ink
        row, col = round(cy), round(cx)
        core = labels[row - 1 : row + 2, col - 1 : col + 2]
        ring = bool((core != i).all())
        if not ring and area / (w * h) < 0.8:
            continue
        found.append(Found(float(cx), float(cy), ring, float(w + h) / 2))
    return found


def near_expected(
    found: list[Found], marks: list[Mark], k: float, shape: tuple[int, int], flipped: bool
) -> list[tuple[Mark, Found]]:
    """Each mark paired with the nearest blob within 30 mm of where the page size puts it
    (``k``: pixels per mm; ``flipped``: the page upside down), those found."""
    sh, sw = shape
    window = 30 * k
    pairs = []
    for mark in marks:
        ex, ey = mark.center[0] * k, mark.center[1] * k
        if flipped:
            ex, ey = sw - 1 - ex, sh - 1 - ey
        near = [c for c in found if abs(c.x - ex) < window and abs(c.y - ey) < window]
        best = min(near, key=lambda c: (c.x - ex) ** 2 + (c.y - ey) ** 2, default=None)
        if best is not None:
            pairs.append((mark, best))
    return pairs


def _corner_of(x: float, y: float, cx: float, cy: float) -> int:
    """0 top left, 1 top right, 2 bottom right, 3 bottom left (relative to a centre)."""
    if y < cy:
        return 0 if x < cx else 1
    return 3 if x < cx else 2


def toward_corners(
    found: list[Found], marks: list[Mark], shape: tuple[int, int]
) -> tuple[list[tuple[Mark, Found]], bool] | None:
    """The blob farthest toward each image corner, paired with the template's mark at that
    corner; the ring tells whether the page is upright or upside down. None when the
    blobs do not give four distinct corners with the ring at the top left or bottom right
    (the ring at another corner: a mirrored or sideways page)."""
    sh, sw = shape
    # the farthest toward a corner: the largest projection on that corner's diagonal
    directions = ((-1, -1), (1, -1), (1, 1), (-1, 1))

    chosen: list[Found | None] = []
    for dx, dy in directions:
        scores = [dx * c.x / sw + dy * c.y / sh for c in found]
        chosen.append(found[int(np.argmax(scores))] if found else None)
    if any(c is None for c in chosen) or len({id(c) for c in chosen}) < 4:
        return None
    corners: list[Found] = [c for c in chosen if c is not None]
    rings = [i for i, c in enumerate(corners) if c.ring]
    cx = sum(m.center[0] for m in marks) / 4
    cy = sum(m.center[1] for m in marks) / 4
    ring_mark = next(m for m in marks if m.shape == "ring")
    ring_corner = _corner_of(*ring_mark.center, cx, cy)
    if len(rings) != 1 or rings[0] not in (ring_corner, (ring_corner + 2) % 4):
        return None
    flipped = rings[0] != ring_corner
    by_corner = {_corner_of(*m.center, cx, cy): m for m in marks}
    if len(by_corner) != 4:
        return None
    pairs = [(by_corner[(i + 2) % 4 if flipped else i], c) for i, c in enumerate(corners)]
    return pairs, flipped


def quad_problem(src_mm: np.ndarray, dst_px: np.ndarray) -> str | None:
    """Why the marks found (``dst_px``, in the order of the template's ``src_mm``) cannot be
    the marks of a flat page, in plain words; None when they can."""
    centre_src = src_mm.mean(axis=0)
    # walk the corners around the centre, in the template's order
    order = np.argsort(np.arctan2(*(src_mm - centre_src).T[::-1]))
    src, dst = src_mm[order], dst_px[order]
    turns_src, turns_dst = _turns(src), _turns(dst)
    if np.any(np.abs(turns_dst) < 1e-9) or not np.all(np.sign(turns_dst) == np.sign(turns_src)):
        return "the corner marks do not form the form's rectangle (a mirrored or folded page?)"
    for i in range(4):
        want, got = _angle(src, i), _angle(dst, i)
        if abs(want - got) > MAX_CORNER_CHANGE_DEG:
            return (
                f"the corner marks are out of shape (a corner at {got:.0f}°, the form has "
                f"{want:.0f}°): a folded or curled page?"
            )
    src_aspect = _extent(src, 0) / _extent(src, 1)
    dst_aspect = _extent(dst, 0) / _extent(dst, 1)
    if abs(dst_aspect / src_aspect - 1) > MAX_ASPECT_CHANGE:
        return (
            "the corner marks do not have the form's proportions "
            f"({dst_aspect:.2f} across per down, the form {src_aspect:.2f}): another form?"
        )
    return None


def _turns(points: np.ndarray) -> np.ndarray:
    """The cross product at each corner of the closed polygon ``points``."""
    a = np.roll(points, 1, axis=0) - points
    b = np.roll(points, -1, axis=0) - points
    turns: np.ndarray = a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]
    return turns


def _angle(points: np.ndarray, i: int) -> float:
    a = points[i - 1] - points[i]
    b = points[(i + 1) % 4] - points[i]
    cos = float(a @ b) / max(float(np.linalg.norm(a) * np.linalg.norm(b)), 1e-9)
    return math.degrees(math.acos(max(-1.0, min(1.0, cos))))


def _extent(points: np.ndarray, axis: int) -> float:
    """The quadrilateral's mean length across (axis 0) or down (axis 1): the mean of its
    two sides that run mostly that way."""
    sides = [points[(i + 1) % 4] - points[i] for i in range(4)]
    along = sorted(sides, key=lambda s: -abs(s[axis]) / max(float(np.linalg.norm(s)), 1e-9))
    return float(np.linalg.norm(along[0]) + np.linalg.norm(along[1])) / 2


Pairs = tuple[bool, list[tuple[Mark, Found]]]


def near_marks(
    found: list[Found], marks: list[Mark], k: float, shape: tuple[int, int]
) -> Pairs | None:
    """All four marks near where the page size puts them, upright or upside down."""
    for flipped in (False, True):
        pairs = near_expected(found, marks, k, shape, flipped)
        if len(pairs) == 4 and all((m.shape == "ring") == f.ring for m, f in pairs):
            return flipped, pairs
    return None


def corner_marks(
    found: list[Found], marks: list[Mark], shape: tuple[int, int], scale: float
) -> Pairs | None:
    """The blobs toward the image's corners, when they form a flat page's quadrilateral
    and each is as large as a mark is there."""
    toward = toward_corners(found, marks, shape)
    if toward is None:
        return None
    pairs, flipped = toward
    src, points = mark_points(pairs, flipped, shape, scale)
    if quad_problem(src, points) is not None or not sizes_fit(pairs, src, points, scale):
        return None
    return flipped, pairs


def evened_binary(small: np.ndarray, side_px: float) -> np.ndarray:
    """Ink of the (small) page after dividing out its light: the paper's level estimated
    by a grey closing wider than a mark, so a shadow or the desk does not join a mark."""
    size = max(3, round(side_px * 1.6) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (size, size))
    paper = cv2.morphologyEx(small, cv2.MORPH_CLOSE, kernel, borderType=cv2.BORDER_REPLICATE)
    even = np.clip(small.astype(np.float32) / np.maximum(paper, 1) * 255, 0, 255)
    threshold, _ = otsu(even.astype(np.uint8))
    return (even <= min(threshold, 160)).astype(np.uint8)


def mark_points(
    pairs: list[tuple[Mark, Found]], flipped: bool, shape: tuple[int, int], scale: float
) -> tuple[np.ndarray, np.ndarray]:
    """The marks' centres in template mm and in pixels of the full (upright) page."""
    sh, sw = shape
    src = np.array([m.center for m, _ in pairs], dtype=np.float64)
    dst = np.array(
        [
            ((sw - 1 - f.x) if flipped else f.x, (sh - 1 - f.y) if flipped else f.y)
            for _, f in pairs
        ],
        dtype=np.float64,
    )
    return src, (dst + 0.5) * scale - 0.5


def sizes_fit(
    pairs: list[tuple[Mark, Found]], src: np.ndarray, points: np.ndarray, scale: float
) -> bool:
    """Whether each blob is about as large as its mark is where the marks put it (the
    homography's local scale there): a blob of another size is not a mark."""
    homography = cv2.getPerspectiveTransform(src.astype(np.float32), points.astype(np.float32))
    low, high = SIZE_RANGE
    for mark, blob in pairs:
        local = abs(float(np.linalg.det(jacobian(homography, *mark.center)))) ** 0.5
        if not low <= blob.size * scale / (mark.size_mm * local) <= high:
            return False
    return True


def marks_missing(marks: list[Mark], upright: list[str]) -> RegistrationFailed:
    """Why the four marks were not found (``upright``: those found the right way up)."""
    if len(upright) < 4:
        missing = [m.name.replace("_", " ") for m in marks if m.name not in upright]
        return RegistrationFailed(
            f"the corner marks are not all there (missing: {', '.join(missing)}): the page "
            "is cut off or covered there, or it is not one of our forms",
            cause="cut_off",
            detail=f"registration marks found: {len(upright)} of 4 ({', '.join(upright)})",
        )
    return RegistrationFailed(
        "the orientation mark (the ring at the top left) is missing: page mirrored?",
        cause="orientation",
    )
