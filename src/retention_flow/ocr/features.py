"""Registration fallback: when the printed marks are not found (a corner cut off, covered by
a sticker, punched), align the page by feature matching against the blank reference form.

ORB key points of the reference (rendered from the template, identical to its
``reference.png``) are matched with the scan's (Hamming distance, Lowe's ratio test), and an
affine map template mm → scan pixels is fitted with RANSAC. A flatbed scan or a fax has no
perspective, so the affine model (as for the marks) is enough and cannot bend to fit
chance matches. A photographed page (in perspective) fits no affine map: then a homography
is fitted the same way (RANSAC). Either fit must pass its own gate (enough inliers, a large
enough inlier share, inliers spread over the page, a small residual: the 90th percentile of
the reprojection error), then the same gates as the marks (rotation, resolution, stretch
and shear for the affine map; shape, tilt, rotation and resolution for the homography, see
register.by_homography), and the marks still on the page must lie where the map puts
them; the caller then checks the printed boxes the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from retention_flow.ocr.levels import otsu
from retention_flow.ocr.perspective import project
from retention_flow.ocr.register import (
    MM_PER_INCH,
    Registered,
    RegistrationFailed,
    aligned,
    by_homography,
    page_size_dpi,
)
from retention_flow.ocr.template import Box, FormTemplate

FEATURE_DPI = 100.0
MAX_FEATURES = 1500
RATIO = 0.8  # Lowe's ratio test
MIN_INLIERS = 60
MIN_INLIER_SHARE = 0.3
RANSAC_MM = 1.0  # a match further off than this is an outlier
GRID = (6, 4)  # rows, columns of the page over which key points are spread
#: the inliers must span this share of the page across and down (else the fit is a guess)
MIN_SPREAD = 0.35
MARK_DPI = 100.0
#: a mark's square with less ink than this share holds no mark; with more than
#: (expected share - MARK_TOLERANCE) it holds the whole mark; in between it is off
MARK_GONE = 0.1
MARK_TOLERANCE = 0.25


@dataclass(frozen=True)
class ReferenceFeatures:
    """Key points of the blank form in template millimetres, with their descriptors."""

    points_mm: np.ndarray  # (n, 2) float32
    descriptors: np.ndarray  # (n, 32) uint8


def _orb(count: int) -> cv2.ORB:
    return cv2.ORB.create(nfeatures=count, scaleFactor=1.2, nlevels=8, fastThreshold=10)


def describe(image: np.ndarray) -> tuple[list[cv2.KeyPoint], np.ndarray | None]:
    """ORB key points spread over the page: the strongest few per cell of a GRID, so a
    line of large print (the title) cannot hold every point and leave the fit unanchored."""
    keypoints = _orb(MAX_FEATURES * 4).detect(image, None)
    height, width = image.shape[:2]
    rows, cols = GRID
    per_cell = MAX_FEATURES // (rows * cols)
    cells: dict[tuple[int, int], list[cv2.KeyPoint]] = {}
    for kp in keypoints:
        x, y = kp.pt
        cells.setdefault((int(y * rows / height), int(x * cols / width)), []).append(kp)
    chosen = [
        kp for found in cells.values() for kp in sorted(found, key=lambda k: -k.response)[:per_cell]
    ]
    described, descriptors = _orb(MAX_FEATURES).compute(image, chosen)
    return list(described), descriptors


def reference_features(template: FormTemplate) -> ReferenceFeatures:
    """Render the blank form at FEATURE_DPI and describe it (once per template and reader)."""
    from retention_flow.ocr.forms import render_image  # forms → pages; keep import light

    image = np.asarray(render_image(template, None, dpi=round(FEATURE_DPI)))
    keypoints, descriptors = describe(image)
    if descriptors is None or len(keypoints) < MIN_INLIERS:
        raise RegistrationFailed(
            f"the form {template.id} cannot be recognised by its print", cause="unaligned"
        )
    k = FEATURE_DPI / MM_PER_INCH
    points = np.array([kp.pt for kp in keypoints], dtype=np.float32) / k
    return ReferenceFeatures(points, descriptors)


def _no_match(detail: str) -> RegistrationFailed:
    """Feature matching failed: the page does not show this form's print where it should."""
    return RegistrationFailed(
        "the page could not be matched with the form (not one of our forms, or too damaged)",
        cause="unaligned",
        detail=f"feature matching: {detail}",
    )


def register_by_features(
    gray: np.ndarray, template: FormTemplate, reference: ReferenceFeatures
) -> Registered:
    """Align ``gray`` with ``template`` by its features or raise :class:`RegistrationFailed`."""
    factor = FEATURE_DPI / page_size_dpi(gray, template)
    small = cv2.resize(gray, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
    x0, y0, x1, y1 = paper_bounds(small)
    # a photo: the page lies on a desk; scale and describe the paper alone
    inner = FEATURE_DPI / page_size_dpi(small[y0:y1, x0:x1], template)
    if inner > 1.05:
        factor *= inner
        x0, y0, x1, y1 = (round(v * inner) for v in (x0, y0, x1, y1))
        small = cv2.resize(gray, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
    keypoints, descriptors = describe(small[y0:y1, x0:x1])
    for kp in keypoints:
        kp.pt = (kp.pt[0] + x0, kp.pt[1] + y0)
    if descriptors is None or len(keypoints) < MIN_INLIERS:
        raise _no_match("too few features on the page")
    pairs = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(reference.descriptors, descriptors, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < RATIO * p[1].distance]
    if len(good) < MIN_INLIERS:
        raise _no_match(f"{len(good)} features match the form (at least {MIN_INLIERS})")
    src = np.array([reference.points_mm[m.queryIdx] for m in good], dtype=np.float32)
    dst = np.array([keypoints[m.trainIdx].pt for m in good], dtype=np.float32) / factor
    px_per_mm = page_size_dpi(gray, template) / MM_PER_INCH
    try:
        registered = _affine(gray, template, src, dst, px_per_mm)
    except RegistrationFailed as affine_failed:
        if affine_failed.cause != "unaligned":  # aligned, and a gate named the cause
            raise
        # a page in perspective (a photo) fits no affine map: the homography may
        registered = _homography(gray, template, src, dst, px_per_mm, affine_failed)
    misplaced = misplaced_marks(registered, template)
    if misplaced:
        raise _no_match(f"the marks {', '.join(misplaced)} are not where the alignment puts them")
    return registered


def paper_bounds(small: np.ndarray) -> tuple[int, int, int, int]:
    """The bounding box (x0, y0, x1, y1) of the largest bright region: the paper of a
    photographed page on a darker desk; the whole image for a scan."""
    height, width = small.shape[:2]
    threshold, contrast = otsu(small)
    if contrast < 40:
        return 0, 0, width, height
    paper = (small > threshold).astype(np.uint8)
    count, _, stats, _ = cv2.connectedComponentsWithStats(paper, connectivity=4)
    if count < 2:
        return 0, 0, width, height
    largest = 1 + int(np.argmax(stats[1:, 4]))
    x, y, w, h, area = (int(v) for v in stats[largest])
    if area < 0.3 * width * height:  # no one paper region: not a photo on a desk
        return 0, 0, width, height
    return x, y, x + w, y + h


def _inlier_gate(template: FormTemplate, src: np.ndarray, inliers: np.ndarray, model: str) -> None:
    """Enough consistent matches, a large enough share of them, spread over the page."""
    count, share = int(inliers.sum()), float(inliers.mean())
    if count < MIN_INLIERS or share < MIN_INLIER_SHARE:
        raise _no_match(
            f"{model}: {count} consistent matches ({share:.0%} of {len(inliers)}); "
            f"at least {MIN_INLIERS} and {MIN_INLIER_SHARE:.0%} are needed"
        )
    span = np.ptp(src[inliers], axis=0) / [template.page.width_mm, template.page.height_mm]
    if span.min() < MIN_SPREAD:
        raise _no_match(
            f"{model}: the consistent matches cover only {span[0]:.0%} x {span[1]:.0%}"
            f" of the page (at least {MIN_SPREAD:.0%} each way)"
        )


def _turn(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The page turned upside down, and the map of its pixels (3x3)."""
    height, width = gray.shape[:2]
    flip = np.array([[-1, 0, width - 1], [0, -1, height - 1], [0, 0, 1]], float)
    return cv2.rotate(gray, cv2.ROTATE_180), flip


def _affine(
    gray: np.ndarray, template: FormTemplate, src: np.ndarray, dst: np.ndarray, px_per_mm: float
) -> Registered:
    matrix, mask = cv2.estimateAffine2D(
        src, dst, method=cv2.RANSAC, ransacReprojThreshold=RANSAC_MM * px_per_mm, maxIters=4000
    )
    if matrix is None:
        raise _no_match("affine: no consistent alignment")
    inliers = mask.ravel().astype(bool)
    _inlier_gate(template, src, inliers, "affine")
    full = np.vstack([matrix.astype(np.float64), [0, 0, 1]])
    upside_down = abs(math.degrees(math.atan2(full[1, 0], full[0, 0]))) > 90
    if upside_down:
        gray, flip = _turn(gray)
        full = flip @ full
    design = np.hstack([src[inliers], np.ones((int(inliers.sum()), 1), np.float32)])
    predicted = design @ full[:2].T
    target = dst[inliers]
    if upside_down:
        target = np.array([gray.shape[1] - 1, gray.shape[0] - 1], np.float32) - target
    errors = np.linalg.norm(predicted - target, axis=1)
    # the 90th percentile: robust to a few stray inliers, yet a bent fit shows
    residual_px = float(np.percentile(errors, 90))
    return aligned(
        gray, template, full[:2], residual_px, upside_down=upside_down, method="features"
    )


def _homography(
    gray: np.ndarray,
    template: FormTemplate,
    src: np.ndarray,
    dst: np.ndarray,
    px_per_mm: float,
    affine_failed: RegistrationFailed,
) -> Registered:
    """The homography through the matches (RANSAC), past the same inlier gate, a
    reprojection gate (90th percentile of the inliers within the template's residual) and
    :func:`~retention_flow.ocr.register.by_homography`'s gates (shape, tilt, rotation,
    resolution)."""
    homography, mask = cv2.findHomography(
        src, dst, cv2.RANSAC, RANSAC_MM * px_per_mm, maxIters=4000
    )
    if homography is None or mask is None:
        raise affine_failed
    inliers = mask.ravel().astype(bool)
    try:
        _inlier_gate(template, src, inliers, "homography")
    except RegistrationFailed as exc:
        raise _no_match(f"{affine_failed.detail}; {exc.detail}") from exc
    projected = cv2.perspectiveTransform(src[inliers].reshape(-1, 1, 2), homography)
    errors = np.linalg.norm(projected.reshape(-1, 2) - dst[inliers], axis=1)
    residual_mm = float(np.percentile(errors, 90)) / px_per_mm
    if residual_mm > template.registration.max_residual_mm:
        raise _no_match(
            f"homography: the matches lie {residual_mm:.2f} mm off it (at most "
            f"{template.registration.max_residual_mm:g})"
        )
    # upside down: the top of the form maps below its bottom
    upside_down = project(homography, 0, 0)[1] > project(homography, 0, template.page.height_mm)[1]
    if upside_down:
        gray, flip = _turn(gray)
        homography = flip @ homography
    return by_homography(gray, template, homography, upside_down, "features (perspective)")


def misplaced_marks(registered: Registered, template: FormTemplate) -> list[str]:
    """The marks that show only in part where ``registered`` puts them. A mark may be gone
    (torn off, covered: that is why features were needed), but one that is half there tells
    the alignment is off."""
    misplaced = []
    for mark in template.registration.marks:
        half = mark.size_mm / 2
        box = Box(x=mark.center[0] - half, y=mark.center[1] - half, w=mark.size_mm, h=mark.size_mm)
        crop = registered.crop(box, 0.0, MARK_DPI)
        ink = float((crop <= registered.ink_threshold).mean())
        expected = 1 - (mark.hole_mm / mark.size_mm) ** 2 if mark.shape == "ring" else 1.0
        if MARK_GONE < ink < expected - MARK_TOLERANCE:
            misplaced.append(mark.name)
    return misplaced
