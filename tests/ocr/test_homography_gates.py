"""Registration of photographed pages and the homography's quality gates: a page in
perspective registers (by its marks, also off-centre on a desk with a mark in shadow, and by
its print when marks are covered); a degenerate, mirrored or too steeply seen quadrilateral
is refused with the reason that names it (no OCR)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable

import cv2
import numpy as np
import pytest
from PIL import Image

from retention_flow.ocr.features import reference_features, register_by_features
from retention_flow.ocr.marks import quad_problem
from retention_flow.ocr.register import MM_PER_INCH, RegistrationFailed, by_homography, register
from retention_flow.ocr.template import FormTemplate

K = 300 / MM_PER_INCH  # px per mm of the rendered pages


def _corners(template: FormTemplate) -> np.ndarray:
    w, h = template.page.width_mm, template.page.height_mm
    return np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)


def _tilted(template: FormTemplate, shrink: float, pad_mm: float = 20.0) -> np.ndarray:
    """Template mm → pixels of a photo: the page on a desk ``pad_mm`` from the image's edge,
    its top edge ``shrink`` shorter (seen from below)."""
    src = _corners(template)
    dst = (src + pad_mm) * K
    middle = dst[:, 0].mean()
    for i in (0, 1):
        dst[i, 0] = middle + (dst[i, 0] - middle) * (1 - shrink)
    return cv2.getPerspectiveTransform(src, dst.astype(np.float32))


def _photo(
    page: Image.Image, template: FormTemplate, homography: np.ndarray, pad_mm: float = 20.0
) -> np.ndarray:
    """``page`` (rendered at 300 dpi) seen through ``homography``, on a grey desk."""
    gray = np.asarray(page.convert("L"))
    to_mm = np.diag([1 / K, 1 / K, 1.0])
    size = (
        round((template.page.width_mm + 2 * pad_mm) * K),
        round((template.page.height_mm + 2 * pad_mm) * K),
    )
    return cv2.warpPerspective(
        gray, homography @ to_mm, size, flags=cv2.INTER_AREA, borderValue=120
    )


def _mark_lands_on_ink(registered: object, template: FormTemplate, image: np.ndarray) -> None:
    for mark in template.registration.marks:
        x, y = registered.to_image(mark.center[0] - mark.size_mm / 2 + 1, mark.center[1])  # type: ignore[attr-defined]
        assert image[round(y), round(x)] < 128, mark.name


def test_a_photo_off_centre_on_a_desk_registers_by_its_marks(
    template: FormTemplate, make_filled: Callable[..., Image.Image]
) -> None:
    """The page lies 20 mm into the image and seen at ~10°: its marks are not where the
    image's size puts them (the bottom ones 40 mm off), and a shadow darkens one of them."""
    homography = _tilted(template, 0.17)
    photo = _photo(make_filled(), template, homography)
    h, w = photo.shape
    shade = np.ones_like(photo, dtype=np.float32)
    shade[h * 3 // 4 :, w * 2 // 3 :] = 0.45  # the bottom right corner in shadow
    photo = (photo * shade).astype(np.uint8)
    registered = register(photo, template)
    assert registered.homography is not None and registered.method == "marks (perspective)"
    _mark_lands_on_ink(registered, template, photo)


def test_a_mirrored_photo_is_refused_as_such(
    template: FormTemplate, make_filled: Callable[..., Image.Image]
) -> None:
    photo = np.ascontiguousarray(_photo(make_filled(), template, _tilted(template, 0.1))[:, ::-1])
    with pytest.raises(RegistrationFailed, match="mirrored") as refused:
        register(photo, template)
    assert refused.value.cause == "orientation"


def test_a_perspective_homography_passes_its_gates(
    template: FormTemplate, make_filled: Callable[..., Image.Image]
) -> None:
    homography = _tilted(template, 0.15)
    photo = _photo(make_filled(), template, homography)
    registered = by_homography(photo, template, homography, False, "marks (perspective)")
    assert registered.dpi == pytest.approx(300, rel=0.15)
    _mark_lands_on_ink(registered, template, photo)


def test_a_mirrored_quadrilateral_is_refused(template: FormTemplate) -> None:
    mirror = np.array([[-1, 0, 2600], [0, 1, 0], [0, 0, 1]], dtype=np.float64)
    gray = np.full((3600, 2600), 255, np.uint8)
    with pytest.raises(RegistrationFailed, match="mirrored or folded") as refused:
        by_homography(gray, template, mirror @ _tilted(template, 0.1), False, "test")
    assert refused.value.cause == "distorted"


def test_a_degenerate_quadrilateral_is_refused(template: FormTemplate) -> None:
    """Three corners on one line (a fold, or a mark confused with print)."""
    gray = np.full((3600, 2600), 255, np.uint8)
    src = _corners(template)
    dst = src * K
    dst[3] = (dst[2] + dst[0]) / 2  # the bottom-left corner on the diagonal
    flat = cv2.getPerspectiveTransform(src, dst.astype(np.float32))
    with pytest.raises(RegistrationFailed) as refused:
        by_homography(gray, template, flat, False, "test")
    assert refused.value.cause == "distorted"
    assert re.search(r"rectangle|out of shape", refused.value.reason)


def test_too_steep_a_view_is_refused_with_its_angle(template: FormTemplate) -> None:
    gray = np.full((3600, 2600), 255, np.uint8)
    with pytest.raises(RegistrationFailed, match=r"too steep an angle \(about (\d+)°") as refused:
        by_homography(gray, template, _tilted(template, 0.45), False, "test")
    assert refused.value.cause == "angle"
    angle = int(re.search(r"about (\d+)°", refused.value.reason).group(1))  # type: ignore[union-attr]
    assert angle > 20


def test_a_page_skewed_beyond_the_limit_is_refused_as_skewed(template: FormTemplate) -> None:
    turn = math.radians(12)
    rotation = np.array(
        [[math.cos(turn), -math.sin(turn), 800], [math.sin(turn), math.cos(turn), 0], [0, 0, 1]]
    )
    gray = np.full((4000, 3200), 255, np.uint8)
    with pytest.raises(RegistrationFailed, match=r"skewed 12\.0° \(beyond 6°\)") as refused:
        by_homography(gray, template, rotation @ _tilted(template, 0.1, 0), False, "test")
    assert refused.value.cause == "skew"


@pytest.mark.parametrize(
    ("name", "move", "problem"),
    [
        ("a perspective view", lambda q: q + np.array([[40, 0], [-40, 0], [0, 0], [0, 0]]), None),
        ("mirrored", lambda q: q[:, ::-1] * [1, 1], "mirrored or folded"),
        ("two corners swapped", lambda q: q[[1, 0, 2, 3]], "mirrored or folded"),
        (
            "a corner pulled in",
            lambda q: q + np.array([[0, 0], [0, 0], [0, 0], [-700, -400]]),
            "shape",
        ),
        ("squashed", lambda q: q * [1, 0.5], "proportions"),
    ],
)
def test_the_marks_quadrilateral_gate(
    template: FormTemplate, name: str, move: Callable[[np.ndarray], np.ndarray], problem: str
) -> None:
    src = np.array([m.center for m in template.registration.marks], dtype=np.float64)
    found = quad_problem(src, move(src * K))
    if problem is None:
        assert found is None, name
    else:
        assert found is not None and problem in found, (name, found)


def test_a_photo_with_covered_marks_registers_by_features_in_perspective(
    template: FormTemplate, make_filled: Callable[..., Image.Image]
) -> None:
    """The affine map of the feature fallback cannot follow a tilted page: the homography
    does, and passes its gates; the marks left uncovered land where it puts them."""
    page = make_filled().convert("L")
    covered = np.asarray(page).copy()
    for mark in template.registration.marks[:2]:
        x, y = mark.center
        covered[
            round((y - 6) * K) : round((y + 6) * K), round((x - 6) * K) : round((x + 6) * K)
        ] = 255
    homography = _tilted(template, 0.17)  # on a desk, 20 mm into the photo, ~10°
    photo = _photo(Image.fromarray(covered), template, homography)
    with pytest.raises(RegistrationFailed):
        register(photo, template)  # two marks are gone
    registered = register_by_features(photo, template, reference_features(template))
    assert registered.method == "features (perspective)" and registered.homography is not None
    for mark in template.registration.marks[2:]:
        x, y = registered.to_image(*mark.center)
        ex, ey = cv2.perspectiveTransform(np.array([[mark.center]], np.float32), homography)[0, 0]
        assert math.hypot(x - ex, y - ey) < 1.0 * K, mark.name
