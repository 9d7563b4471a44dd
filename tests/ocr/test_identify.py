"""Template identification and the feature-matching fallback of registration (no OCR)."""

from __future__ import annotations

import dataclasses
import random
import re
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image, ImageDraw

from retention_flow.ocr.damage import damage
from retention_flow.ocr.features import misplaced_marks
from retention_flow.ocr.forms import FormData, render_image
from retention_flow.ocr.identify import Identifier
from retention_flow.ocr.register import MM_PER_INCH, RegistrationFailed, register
from retention_flow.ocr.synthetic import degrade, fill
from retention_flow.ocr.template import CheckboxGroup, FormTemplate, load_template
from tests.ocr.conftest import OFFERS, TEMPLATES

K = 300 / MM_PER_INCH  # px per mm of the rendered pages


@pytest.fixture(scope="module")
def v2() -> FormTemplate:
    return load_template(TEMPLATES / "retention_offer_v2")


def _page(template: FormTemplate) -> Image.Image:
    data = FormData("RC-2026-000123-6", "Erika Müller", ("Hauptstraße 5",), OFFERS)
    return fill(render_image(template, data), template, ticks=[1], signed=True)


def _cover(page: Image.Image, template: FormTemplate, names: set[str]) -> Image.Image:
    """White stickers over the named registration marks."""
    out = page.copy()
    draw = ImageDraw.Draw(out)
    for mark in template.registration.marks:
        if mark.name in names:
            x, y = mark.center
            draw.rectangle([(x - 6) * K, (y - 6) * K, (x + 6) * K, (y + 6) * K], fill=255)
    return out


def _gray(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("L"))


ALL = {"top_left", "top_right", "bottom_left", "bottom_right"}
SCANS: dict[str, tuple[set[str], Callable[[Image.Image], Image.Image]]] = {
    "two marks covered": ({"top_left", "bottom_right"}, lambda p: p),
    "all marks covered, rotated": (ALL, lambda p: p.rotate(2, fillcolor=255)),
    "ring covered, upside down": ({"top_left"}, lambda p: p.rotate(180)),
    "ring covered, fax": (
        {"top_left"},
        lambda p: degrade(p, "combined_fax", random.Random(1))[0],
    ),
}


@pytest.mark.parametrize(("covered", "scan"), SCANS.values(), ids=SCANS.keys())
def test_feature_fallback_aligns_a_page_without_marks(
    template: FormTemplate,
    v2: FormTemplate,
    covered: set[str],
    scan: Callable[[Image.Image], Image.Image],
) -> None:
    page = _page(template)
    image = _gray(scan(_cover(page, template, covered)))
    with pytest.raises(RegistrationFailed):
        register(image, template)  # the marks alone cannot
    found, registered = Identifier([v2, template], 300, features=True).identify(image)
    assert found.id == template.id and registered.method == "features"
    assert registered.residual_mm < template.registration.max_residual_mm
    # the same scan with its marks: every field box lands within 1 mm of where they put it
    truth = register(_gray(scan(page)), template)
    assert registered.upside_down == truth.upside_down
    px_per_mm = truth.dpi / MM_PER_INCH
    for field in template.fields:
        for box in field.boxes if isinstance(field, CheckboxGroup) else [field.box]:
            offset = np.subtract(registered.image_box(box), truth.image_box(box))
            assert np.abs(offset).max() < 1.0 * px_per_mm, (field.name, offset)


def test_feature_alignment_passes_the_same_gate(template: FormTemplate) -> None:
    stretched = _cover(_page(template), template, {"top_left"})
    stretched = stretched.resize((stretched.width, int(stretched.height * 1.06)))
    with pytest.raises(RegistrationFailed, match=r"^the page is stretched or distorted") as info:
        Identifier([template], 300, features=True).identify(_gray(stretched))
    assert info.value.cause == "distorted"
    assert "registration marks found: 3 of 4" in info.value.detail


def test_another_document_is_refused(template: FormTemplate) -> None:
    letter = Image.new("L", (2481, 3508), 255)
    draw = ImageDraw.Draw(letter)
    rng = random.Random(2)
    for row in range(60):
        words = " ".join("".join(rng.choices("abcdefghij", k=6)) for _ in range(10))
        draw.text((200, 200 + row * 50), words, fill=0, font_size=36)
    with pytest.raises(RegistrationFailed, match=r"corner marks are not all there") as info:
        Identifier([template], 300, features=True).identify(_gray(letter))
    # plain words for the clerk; the match counts only in the detail (logs)
    assert "feature" not in info.value.reason and "not one of our forms" in info.value.reason
    assert "registration marks found: 0 of 4" in info.value.detail
    assert "feature matching" in info.value.detail


def test_without_the_fallback_only_the_marks_count(template: FormTemplate) -> None:
    page = _gray(_cover(_page(template), template, {"top_left"}))
    with pytest.raises(RegistrationFailed, match=r"\(missing: top left\)") as info:
        Identifier([template], 300, features=False).identify(page)
    assert "feature" not in info.value.reason


def test_templates_with_the_same_marks_are_told_apart(
    template: FormTemplate, v2: FormTemplate
) -> None:
    both = Identifier([template, v2], 300, features=True)
    for form in (template, v2):
        found, registered = both.identify(_gray(_page(form)))
        assert found.id == form.id and registered.method == "marks"


@pytest.mark.parametrize("seed", [4, 9, 14])
def test_a_shadow_does_not_make_another_layout_fit(
    template: FormTemplate, v2: FormTemplate, seed: int
) -> None:
    """Under the page's one threshold a deep shadow is all ink, so every box of the other
    layout would seem printed there: boxes in shadow are judged on the evened-out crop."""
    for form in (v2, template):
        page, _ = damage(_page(form), "shadow", 3, random.Random(seed))
        found, _ = Identifier([template, v2], 300, features=True).identify(_gray(page))
        assert found.id == form.id


def test_a_form_of_an_unknown_layout_is_a_wrong_form(
    template: FormTemplate, v2: FormTemplate
) -> None:
    with pytest.raises(RegistrationFailed, match=r"^the printed boxes are not where") as info:
        Identifier([template], 300, features=True).identify(_gray(_page(v2)))
    assert info.value.cause == "other_form" and "another form" in info.value.reason
    assert "0 of 4 printed boxes" in info.value.detail


def test_a_blank_page_is_blank_for_every_template(template: FormTemplate, v2: FormTemplate) -> None:
    blank = np.full((3508, 2481), 255, np.uint8)
    with pytest.raises(RegistrationFailed, match=r"^the page is blank"):
        Identifier([template, v2], 300, features=True).identify(blank)


def test_matches_on_one_strip_of_the_page_are_no_alignment(template: FormTemplate) -> None:
    page = _page(template)
    strip = Image.new("L", page.size, 255)
    strip.paste(page.crop((0, 0, page.width, round(40 * K))), (0, 0))  # marks + title only
    with pytest.raises(RegistrationFailed, match=r"missing: bottom left, bottom right") as info:
        Identifier([template], 300, features=True).identify(_gray(strip))
    assert info.value.cause == "cut_off"
    assert re.search(r"matches cover only .* of the page", info.value.detail)


@pytest.mark.parametrize(("offset_mm", "misplaced"), [(0.0, []), (0.8, []), (3.0, sorted(ALL))])
def test_marks_after_the_warp_check_a_feature_alignment(
    template: FormTemplate, offset_mm: float, misplaced: list[str]
) -> None:
    page = _cover(_page(template), template, {"bottom_left"})  # a gone mark is no evidence
    registered = register(_gray(_page(template)), template)
    matrix = registered.matrix.copy()
    matrix[0, 2] += offset_mm * K  # the alignment is off by offset_mm to the right
    shifted = dataclasses.replace(registered, image=_gray(page), matrix=matrix)
    expected = [m for m in misplaced if m != "bottom_left"]
    assert sorted(misplaced_marks(shifted, template)) == expected
