"""Registration and mark reading need no OCR engine."""

from __future__ import annotations

import random

import numpy as np
import pytest
from PIL import Image

from retention_flow.ocr.omr import classify, read_box
from retention_flow.ocr.register import RegistrationFailed, register
from retention_flow.ocr.synthetic import degrade
from retention_flow.ocr.template import CheckboxGroup, FormTemplate, SignatureField


def _arr(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("L"))


@pytest.mark.parametrize("angle", [-2.0, 0.0, 2.0, 5.0])
def test_registration_recovers_rotation(
    template: FormTemplate, blank_form: Image.Image, angle: float
) -> None:
    rotated = blank_form.rotate(angle, resample=Image.Resampling.BILINEAR, fillcolor=255)
    reg = register(_arr(rotated), template)
    assert reg.rotation_deg == pytest.approx(-angle, abs=0.1)
    assert reg.residual_mm < 0.3 and not reg.upside_down
    assert reg.dpi == pytest.approx(300, rel=0.01)


def test_upside_down_page_is_turned(template: FormTemplate, blank_form: Image.Image) -> None:
    reg = register(_arr(blank_form.rotate(180)), template)
    assert reg.upside_down and abs(reg.rotation_deg) < 0.2
    # after turning, the case-number box is where an upright scan has it
    upright = register(_arr(blank_form), template)
    box = template.field("case_number").box  # type: ignore[union-attr]
    assert np.allclose(reg.image_box(box), upright.image_box(box), atol=3)


def test_lower_resolution_registers(template: FormTemplate, blank_form: Image.Image) -> None:
    scan, dpi = degrade(blank_form, "dpi", random.Random(3))
    assert register(_arr(scan), template).dpi == pytest.approx(dpi, rel=0.01)


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda f: Image.new("L", f.size, 255), "blank"),
        (lambda f: Image.new("L", f.size, 0), "blank"),
        (lambda f: f.crop((0, 0, f.width, f.height // 2)).resize(f.size), "corner marks|stretched"),
        (lambda f: f.transpose(Image.Transpose.FLIP_LEFT_RIGHT), "orientation mark"),
        (lambda f: f.rotate(90, expand=True), "sideways"),
        (lambda f: f.rotate(15, fillcolor=255), "corner marks are not all there"),
        (lambda f: f.resize((f.width, int(f.height * 1.06))), "stretched|do not line up"),
        (lambda f: Image.new("L", (300, 300), 255), r"^resolution too low: about \d+ dpi"),
    ],
)
def test_bad_pages_are_refused_not_read(
    template: FormTemplate, blank_form: Image.Image, make: object, reason: str
) -> None:
    page = make(blank_form)  # type: ignore[operator]
    with pytest.raises(RegistrationFailed, match=reason):
        register(_arr(page), template)


def test_rotation_beyond_the_limit_is_refused(
    template: FormTemplate, blank_form: Image.Image
) -> None:
    strict = template.model_copy(
        update={"registration": template.registration.model_copy(update={"max_rotation_deg": 3})}
    )
    page = blank_form.rotate(4.5, fillcolor=255)
    with pytest.raises(RegistrationFailed, match=r"skewed 4.5° \(beyond 3°\)"):
        register(_arr(page), strict)


def test_random_noise_page_is_refused(template: FormTemplate) -> None:
    noise = np.random.default_rng(1).integers(0, 256, (3508, 2481), dtype=np.uint8)
    with pytest.raises(RegistrationFailed):
        register(noise, template)


@pytest.mark.parametrize(
    ("density", "state"),
    [
        (0.0, "empty"),
        (0.02, "empty"),
        (0.03, "unsure"),
        (0.05, "unsure"),
        (0.08, "unsure"),
        (0.1, "marked"),
    ],
)
def test_classify_has_an_uncertainty_band(density: float, state: str) -> None:
    assert classify(density, 0.03, 0.08) == state


def test_boxes_read_by_ink_density(template: FormTemplate, make_filled: object) -> None:
    page = make_filled(ticks=[2], signed=True)  # type: ignore[operator]
    reg = register(_arr(page), template)
    group = template.field("offer")
    assert isinstance(group, CheckboxGroup)
    states = [
        read_box(
            reg,
            b,
            inset=group.inset,
            empty_max=group.empty_max,
            marked_min=group.filled_min,
            dpi=300,
        )
        for b in group.boxes
    ]
    assert [s.state for s in states] == ["empty", "empty", "marked", "empty"]
    assert [s.printed for s in states] == [True, True, True, False]  # 3 offers on this form
    sig = template.field("signature")
    assert isinstance(sig, SignatureField)
    read = read_box(
        reg, sig.box, inset=sig.inset, empty_max=sig.absent_max, marked_min=sig.present_min, dpi=300
    )
    assert read.state == "marked"
