"""The degradation generator (fixed seeds, every kind and severity) and registration of
pages in perspective through a homography, with its gates."""

from __future__ import annotations

import random
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image

from retention_flow.ocr.damage import KINDS, SEVERITIES, damage
from retention_flow.ocr.register import RegistrationFailed, in_perspective, register
from retention_flow.ocr.template import FormTemplate


def test_at_least_twelve_kinds_at_three_severities_with_fixed_seeds(
    blank_form: Image.Image,
) -> None:
    assert len(KINDS) >= 12 and SEVERITIES == (1, 2, 3)
    small = blank_form.resize((blank_form.width // 4, blank_form.height // 4))
    for kind in KINDS:
        for severity in SEVERITIES:
            one, dpi = damage(small, kind, severity, random.Random(3), dpi=75)
            two, _ = damage(small, kind, severity, random.Random(3), dpi=75)
            assert np.array_equal(np.asarray(one), np.asarray(two)), kind
            assert not np.array_equal(np.asarray(one), np.asarray(small.convert("L"))), kind
            assert dpi > 0
    with pytest.raises(ValueError, match="unknown damage"):
        damage(small, "meteor", 1, random.Random(0))


@pytest.mark.parametrize("severity", [1, 2])
def test_pages_in_perspective_register_by_homography(
    template: FormTemplate, make_filled: Callable[..., Image.Image], severity: int
) -> None:
    page, _ = damage(make_filled(), "perspective", severity, random.Random(severity))
    registered = register(np.asarray(page), template)
    assert registered.homography is not None and registered.method == "marks (perspective)"
    # every mark lands on its printed square
    for mark in template.registration.marks:
        x, y = registered.to_image(mark.center[0] - mark.size_mm / 2 + 1, mark.center[1])
        assert np.asarray(page)[round(y), round(x)] < 128, mark.name


def test_a_straight_page_keeps_the_affine_map(
    template: FormTemplate, make_filled: Callable[..., Image.Image]
) -> None:
    registered = register(np.asarray(make_filled().convert("L")), template)
    assert registered.homography is None and registered.method == "marks"


@pytest.mark.parametrize(("shrink", "passes"), [(0.0, True), (0.15, True), (0.5, False)])
def test_the_tilt_gate(
    template: FormTemplate, make_filled: Callable[..., Image.Image], shrink: float, passes: bool
) -> None:
    """Marks seen as a trapezoid whose far edge is ``shrink`` shorter: up to ~20° is read,
    a steeper view is refused with its angle."""
    k = 300 / 25.4
    src = np.array([m.center for m in template.registration.marks], dtype=np.float64)
    points = src * k
    top = points[:, 1] < points[:, 1].mean()
    middle = points[:, 0].mean()
    points[top, 0] = middle + (points[top, 0] - middle) * (1 - shrink)
    gray = np.asarray(make_filled().convert("L"))
    if passes:
        assert in_perspective(gray, template, src, points, False).homography is not None
    else:
        with pytest.raises(RegistrationFailed, match=r"too steep an angle \(about \d+°"):
            in_perspective(gray, template, src, points, False)


@pytest.mark.parametrize("severity", [1, 2, 3])  # 200x200, 200x150, 200x100 dpi, binarised
def test_fax_class_pages_get_square_pixels_and_register(
    template: FormTemplate, make_filled: Callable[..., Image.Image], severity: int
) -> None:
    from retention_flow.ocr.register import square_pixels

    fax, _ = damage(make_filled(), "fax", severity, random.Random(severity))
    gray = square_pixels(np.asarray(fax), template)
    assert gray.shape[1] == fax.width
    assert gray.shape[0] / gray.shape[1] == pytest.approx(297 / 210, rel=0.02)
    registered = register(gray, template)
    assert registered.dpi == pytest.approx(200, rel=0.05)
