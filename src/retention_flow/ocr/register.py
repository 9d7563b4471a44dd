"""Registration: find the four printed corner marks, fix the page's orientation, and fit the
affine map from template millimetres to scan pixels — refused when it does not fit well.

The top-left mark is a ring (a square with a hole), the others are solid, so a page scanned
upside down is recognised and turned; a mirrored or sideways page is refused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from retention_flow.ocr.levels import otsu as otsu
from retention_flow.ocr.levels import page_levels
from retention_flow.ocr.marks import (
    candidates,
    corner_marks,
    evened_binary,
    mark_points,
    marks_missing,
    near_expected,
    near_marks,
    quad_problem,
)
from retention_flow.ocr.perspective import jacobian, project, tilt_deg
from retention_flow.ocr.refusal import CAUSES as CAUSES
from retention_flow.ocr.refusal import RegistrationFailed as RegistrationFailed
from retention_flow.ocr.template import Box, FormTemplate

MM_PER_INCH = 25.4
DETECT_DPI = 75.0
#: below this spread between paper and ink grey levels the page holds no print at all
MIN_CONTRAST = 40
MAX_SHEAR_DEG = 2.0
#: a measured resolution within this share of the template's limits is accepted
DPI_TOLERANCE = 0.1
#: the steepest camera angle a photographed page may be seen at
MAX_TILT_DEG = 20.0


@dataclass(frozen=True)
class Registered:
    """A page aligned with a template: the (upright) grey image and the mm → pixel map."""

    image: np.ndarray
    matrix: np.ndarray  # 2x3, template mm -> image px
    ink_threshold: int
    rotation_deg: float
    dpi: float
    residual_mm: float
    upside_down: bool
    method: str = "marks"  # or "features" (the fallback, see ocr/features.py)
    #: the page's paper grey level (its bright 95th percentile): local normalisation
    #: compares each zone's paper with it (see ocr/normalise.py)
    paper: float = 255.0
    #: 3x3 template mm -> image px when the page is seen in perspective (a photo, a page
    #: scanned off-square); None: the affine ``matrix`` holds
    homography: np.ndarray | None = None

    def to_image(self, x_mm: float, y_mm: float) -> tuple[float, float]:
        if self.homography is not None:
            px, py, pw = self.homography @ np.array([x_mm, y_mm, 1.0])
            return float(px / pw), float(py / pw)
        px, py = self.matrix @ np.array([x_mm, y_mm, 1.0])
        return float(px), float(py)

    def image_box(self, box: Box) -> tuple[int, int, int, int]:
        """The box's bounding rectangle in image pixels (x0, y0, x1, y1) of the upright page."""
        corners = [self.to_image(x, y) for x in (box.x, box.right) for y in (box.y, box.bottom)]
        xs = [c[0] for c in corners]
        ys = [c[1] for c in corners]
        return int(min(xs)), int(min(ys)), math.ceil(max(xs)), math.ceil(max(ys))

    def crop(self, box: Box, pad_mm: float, dpi: float) -> np.ndarray:
        """The box plus ``pad_mm`` around it, resampled upright at ``dpi``."""
        k = dpi / MM_PER_INCH
        x0, y0 = box.x - pad_mm, box.y - pad_mm
        width = round((box.w + 2 * pad_mm) * k)
        height = round((box.h + 2 * pad_mm) * k)
        if self.homography is not None:
            to_mm = np.array([[1 / k, 0, x0], [0, 1 / k, y0], [0, 0, 1.0]])
            return cv2.warpPerspective(
                self.image,
                self.homography @ to_mm,
                (width, height),
                flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                borderMode=cv2.BORDER_CONSTANT,
                borderValue=255,
            )
        a = self.matrix
        dst_to_src = np.array(
            [
                [a[0, 0] / k, a[0, 1] / k, a[0, 0] * x0 + a[0, 1] * y0 + a[0, 2]],
                [a[1, 0] / k, a[1, 1] / k, a[1, 0] * x0 + a[1, 1] * y0 + a[1, 2]],
            ]
        )
        return cv2.warpAffine(
            self.image,
            dst_to_src,
            (width, height),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=255,
        )


def _fit(src_mm: np.ndarray, dst_px: np.ndarray) -> tuple[np.ndarray, float]:
    design = np.hstack([src_mm, np.ones((len(src_mm), 1))])
    solution, *_ = np.linalg.lstsq(design, dst_px, rcond=None)
    matrix = solution.T  # 2x3
    predicted = design @ solution
    residual_px = float(np.max(np.linalg.norm(predicted - dst_px, axis=1)))
    return matrix, residual_px


def register(gray: np.ndarray, template: FormTemplate) -> Registered:
    """Align a greyscale page with ``template`` or raise :class:`RegistrationFailed`."""
    reg = template.registration
    page = template.page
    height, width = gray.shape[:2]
    if width > height * 1.15 and page.height_mm > page.width_mm * 1.15:
        raise RegistrationFailed(
            "the page is sideways (a landscape scan of a portrait form): scan it upright",
            retry=False,
            cause="sideways",
        )
    dpi_guess = page_size_dpi(gray, template)
    if not reg.min_dpi * 0.8 <= dpi_guess <= reg.max_dpi * 1.2:
        low = dpi_guess < reg.min_dpi
        raise RegistrationFailed(
            f"resolution too {'low' if low else 'high'}: about {dpi_guess:.0f} dpi for a whole "
            f"page, this form is read at {reg.min_dpi:.0f} to {reg.max_dpi:.0f} dpi"
            + (" (or only part of the page was scanned)" if low else ""),
            retry=False,
            cause="resolution",
            detail=f"image {width}x{height} px, a full page at {dpi_guess:.0f} dpi",
        )
    # a whole-number reduction (300 dpi: 4) is several times cheaper than any other
    factor = 1 / max(1, round(dpi_guess / DETECT_DPI))
    small = cv2.resize(gray, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
    detect_dpi = dpi_guess * factor
    threshold, contrast = otsu(small)
    if contrast < MIN_CONTRAST:
        raise RegistrationFailed("the page is blank (no print found)", retry=False, cause="blank")
    binary = (small <= threshold).astype(np.uint8)
    ring_mark = next(m for m in reg.marks if m.shape == "ring")
    side = ring_mark.size_mm * detect_dpi / MM_PER_INCH
    found = candidates(binary, side)
    k = detect_dpi / MM_PER_INCH
    shape = (small.shape[0], small.shape[1])
    scale = 1 / factor
    best = near_marks(found, reg.marks, k, shape)
    if best is None:
        # a photo: uneven light merges a mark with a shadow or the desk under one
        # threshold for the whole page, and the page lies off-centre, so its marks are not
        # where the image's size puts them: look again on the evened-out page, near where
        # they should be, then toward the image's corners
        upright = [m.name for m, _ in near_expected(found, reg.marks, k, shape, False)]
        missing = marks_missing(reg.marks, upright)
        local = candidates(evened_binary(small, side), side)
        best = near_marks(local, reg.marks, k, shape)
        if best is None:
            best = corner_marks(local, reg.marks, shape, scale) or corner_marks(
                found, reg.marks, shape, scale
            )
        if best is None:
            raise missing
    flipped, pairs = best
    if flipped:
        gray = cv2.rotate(gray, cv2.ROTATE_180)
    src, points = mark_points(pairs, flipped, shape, scale)
    problem = quad_problem(src, points)
    if problem is not None:
        raise RegistrationFailed(problem, cause="distorted", detail=f"marks at {points.tolist()}")
    return _fit_marks(gray, template, src, points, flipped)


def _fit_marks(
    gray: np.ndarray, template: FormTemplate, src: np.ndarray, points: np.ndarray, flipped: bool
) -> Registered:
    """The affine map through the marks when it fits them, else the homography."""
    matrix, residual_px = _fit(src, points)
    if residual_px / _mean_scale(matrix) <= template.registration.max_residual_mm:
        return aligned(gray, template, matrix, residual_px, upside_down=flipped, method="marks")
    # the marks do not fit an affine map: a page seen in perspective (photo, off-square)
    return in_perspective(gray, template, src, points, flipped)


def _mean_scale(matrix: np.ndarray) -> float:
    return float(np.linalg.norm(matrix[:, 0]) + np.linalg.norm(matrix[:, 1])) / 2


def in_perspective(
    gray: np.ndarray, template: FormTemplate, src: np.ndarray, points: np.ndarray, flipped: bool
) -> Registered:
    """The homography through the four marks, with the gates of :func:`by_homography`."""
    homography = cv2.getPerspectiveTransform(src.astype(np.float32), points.astype(np.float32))
    return by_homography(gray, template, homography, flipped, "marks (perspective)")


def by_homography(
    gray: np.ndarray, template: FormTemplate, homography: np.ndarray, flipped: bool, method: str
) -> Registered:
    """The page aligned by ``homography`` (template mm → pixels of the upright page), past
    its quality gates: the page's corners map to a quadrilateral a flat page can show (not
    collapsed, not mirrored, in proportion), the tilt it implies (how much the scale
    changes across the page) stays within MAX_TILT_DEG, and the affine map at the page's
    centre passes :func:`aligned`'s rotation and resolution gates."""
    page = template.page
    corners = np.array(
        [[0, 0], [page.width_mm, 0], [page.width_mm, page.height_mm], [0, page.height_mm]],
        dtype=np.float64,
    )
    if abs(float(np.linalg.det(homography))) < 1e-12:
        raise RegistrationFailed(
            "the page could not be aligned (its marks or print collapse onto a line)",
            cause="distorted",
        )
    mapped = np.array([project(homography, x, y) for x, y in corners])
    problem = quad_problem(corners, mapped)
    if problem is not None:
        raise RegistrationFailed(problem, cause="distorted", detail=f"{method}: {mapped}")
    tilt = tilt_deg(homography, page.width_mm, page.height_mm)
    if tilt > MAX_TILT_DEG:
        raise RegistrationFailed(
            f"the page is seen at too steep an angle (about {tilt:.0f}°, at most "
            f"{MAX_TILT_DEG:g}° can be read): photograph it from straight above",
            cause="angle",
            detail=f"{method}: tilt {tilt:.1f}°",
        )
    cx, cy = page.width_mm / 2, page.height_mm / 2
    local = jacobian(homography, cx, cy)
    centre = np.array([*project(homography, cx, cy)], dtype=np.float64)
    offset = centre - local @ np.array([cx, cy])
    affine = np.hstack([local, offset[:, None]])
    registered = aligned(
        gray, template, affine, 0.0, upside_down=flipped, method=method, perspective=True
    )
    return Registered(
        image=registered.image,
        matrix=affine,
        ink_threshold=registered.ink_threshold,
        rotation_deg=registered.rotation_deg,
        dpi=registered.dpi,
        residual_mm=0.0,
        upside_down=flipped,
        method=method,
        paper=registered.paper,
        homography=homography,
    )


def square_pixels(gray: np.ndarray, template: FormTemplate) -> np.ndarray:
    """A fax in normal mode has 200x100 dpi (pixels twice as tall as wide): when the image's
    shape says its horizontal and vertical resolutions differ by 1.3-2.5x for this page size,
    stretch it to square pixels so it can be read (its marks and boxes then fit again)."""
    height, width = gray.shape[:2]
    dpi_x = width / (template.page.width_mm / MM_PER_INCH)
    dpi_y = height / (template.page.height_mm / MM_PER_INCH)
    ratio = dpi_x / dpi_y if dpi_y else 1.0
    if 1.3 <= ratio <= 2.5:
        return cv2.resize(gray, (width, round(height * ratio)), interpolation=cv2.INTER_LINEAR)
    if 1.3 <= 1 / ratio <= 2.5:
        return cv2.resize(gray, (round(width / ratio), height), interpolation=cv2.INTER_LINEAR)
    return gray


def page_size_dpi(gray: np.ndarray, template: FormTemplate) -> float:
    """The resolution the image has if it shows the whole page."""
    height, width = gray.shape[:2]
    dpi_x = width / (template.page.width_mm / MM_PER_INCH)
    dpi_y = height / (template.page.height_mm / MM_PER_INCH)
    return float(dpi_x + dpi_y) / 2


def aligned(
    gray: np.ndarray,
    template: FormTemplate,
    matrix: np.ndarray,
    residual_px: float,
    *,
    upside_down: bool,
    method: str,
    perspective: bool = False,
) -> Registered:
    """The quality gate every alignment passes (marks or features): residual, rotation,
    resolution, stretch and shear within the template's limits, else RegistrationFailed."""
    reg = template.registration
    col_x, col_y = matrix[:, 0], matrix[:, 1]
    sx, sy = float(np.linalg.norm(col_x)), float(np.linalg.norm(col_y))
    rotation = math.degrees(math.atan2(col_x[1], col_x[0]))
    shear = abs(90 - math.degrees(math.acos(float(col_x @ col_y) / (sx * sy))))
    dpi = (sx + sy) / 2 * MM_PER_INCH
    residual_mm = residual_px / ((sx + sy) / 2)
    problems: list[tuple[str, str]] = []  # (cause, plain words)
    if abs(rotation) > reg.max_rotation_deg:
        problems.append(
            (
                "skew",
                f"skewed {abs(rotation):.1f}° (beyond {reg.max_rotation_deg:g}°): feed it straight",
            )
        )
    # the same tolerance as the page-size check: a clean page scanned at the template's
    # minimum measures a little under or over it (paper size, scanner calibration)
    if not reg.min_dpi * (1 - DPI_TOLERANCE) <= dpi <= reg.max_dpi * (1 + DPI_TOLERANCE):
        problems.append(
            (
                "resolution",
                f"resolution {dpi:.0f} dpi is outside what this form can be read at "
                f"({reg.min_dpi:g}-{reg.max_dpi:g} dpi)",
            )
        )
    if not perspective and (abs(sx / sy - 1) > reg.max_anisotropy or shear > MAX_SHEAR_DEG):
        problems.append(("distorted", "the page is stretched or distorted"))
    if residual_mm > reg.max_residual_mm:
        problems.append(
            ("distorted", "the corner marks do not line up with the form (a bent page?)")
        )
    if problems:
        raise RegistrationFailed(
            "; ".join(words for _, words in problems),
            cause=problems[0][0],
            detail=f"{method}: {residual_mm:.2f} mm off, rotation {rotation:.1f}°, "
            f"{dpi:.0f} dpi, stretch {sx / sy:.3f}, shear {shear:.1f}°",
        )
    full_threshold, paper = page_levels(gray)
    return Registered(
        paper=paper,
        image=gray,
        matrix=matrix,
        ink_threshold=full_threshold,
        rotation_deg=rotation,
        dpi=dpi,
        residual_mm=residual_mm,
        upside_down=upside_down,
        method=method,
    )
