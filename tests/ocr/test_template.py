from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageChops

from retention_flow.ocr.errors import TemplateInvalid
from retention_flow.ocr.forms import render_image
from retention_flow.ocr.template import (
    CheckboxGroup,
    load_template,
    load_templates,
    parse_template,
)
from tests.ocr.conftest import TEMPLATES

SHIPPED = TEMPLATES / "retention_offer_v1"


def _raw() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SHIPPED / "template.json").read_text())
    return data


def test_shipped_template_loads_with_its_reference_image() -> None:
    template = load_template(SHIPPED)
    assert template.id == "retention_offer_v1"
    assert {f.name for f in template.fields} == {"case_number", "offer", "signed_on", "signature"}
    offer = template.field("offer")
    assert isinstance(offer, CheckboxGroup) and len(offer.boxes) == 4
    assert (SHIPPED / "reference.png").is_file()
    assert set(load_templates(TEMPLATES)) == {"retention_offer_v1", "retention_offer_v2"}


def _broken(change: str) -> dict[str, Any]:
    data = _raw()
    fields = data["fields"]
    if change == "overlap":
        fields[3]["box"] = dict(fields[2]["box"])
    elif change == "outside":
        fields[0]["box"]["x"] = 200
    elif change == "no_ring":
        data["registration"]["marks"][0]["shape"] = "square"
    elif change == "unknown_kind":
        fields[0]["kind"] = "barcode"
    elif change == "band":
        fields[1]["empty_max"] = 0.2
    elif change == "duplicate":
        fields[2]["name"] = "case_number"
    elif change == "regex":
        fields[2]["validator"] = "regex"
        fields[2]["kind"] = "text"
    elif change == "extra":
        fields[0]["colour"] = "red"
    elif change == "dpi_band":
        data["registration"]["min_dpi"] = 900
    elif change == "marks_clustered":
        data["registration"]["marks"][1]["center"] = [40, 15]
        data["registration"]["marks"][3]["center"] = [40, 282]
    elif change == "bad_regex":
        fields[0].update(validator="regex", pattern="RC-(", kind="text")
    elif change == "tiny_box":
        fields[1]["boxes"][2]["w"] = 2
    elif change == "font_too_big":
        fields[0]["font_size_pt"] = 30
    elif change == "no_space_for_the_check":
        fields[0]["whitelist"] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-"
    elif change == "date_without_year":
        fields[2]["date_format"] = "%d.%m"
    elif change == "date_separator":
        fields[2]["whitelist"] = "0123456789"
    elif change == "same_target":
        fields[3]["target"] = "signed_on"
    elif change == "no_case_number":
        fields[0]["target"] = "reference"
    elif change == "on_the_fold":
        fields[1]["boxes"][0]["y"] = 98  # 98-106 mm: across the first fold (99 mm)
    elif change == "code_overlaps":
        data["code"] = {"x": 20, "y": 70, "w": 20, "h": 20}
    elif change == "code_too_small":
        data["code"] = {"x": 165, "y": 24, "w": 10, "h": 10}
    return data


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("overlap", "signature overlaps|signed_on overlaps"),
        ("outside", "outside the page"),
        ("no_ring", "exactly one mark must be a ring"),
        ("unknown_kind", "fields.0"),
        ("band", "empty_max must be below filled_min"),
        ("duplicate", "field names must be unique"),
        ("regex", "needs a pattern"),
        ("extra", "colour"),
        ("dpi_band", "registration: min_dpi 900 must be below max_dpi 650"),
        ("marks_clustered", "marks must sit near the four corners"),
        ("bad_regex", r"fields.0 \(case_number\): pattern 'RC-\(' is not a regular expression"),
        ("tiny_box", r"fields.1 \(offer\): boxes.2: 2x8 mm is below 4 mm"),
        ("font_too_big", r"fields.0 \(case_number\): a 30 pt line does not fit a box 13 mm"),
        ("on_the_fold", r"offer\[0\] lies on the fold at 99 mm of the tri-folded letter"),
        ("code_overlaps", "overlaps code"),
        ("code_too_small", "code: 10 mm is below 15 mm"),
        ("no_space_for_the_check", "validator 'mod97_10' needs ' ' in the whitelist"),
        ("date_without_year", r"fields.2 \(signed_on\): date_format '%d.%m' cannot hold"),
        ("date_separator", "validator 'date' needs '.' in the whitelist"),
        ("same_target", r"two fields map to the same target: \['signed_on'\]"),
        ("no_case_number", "no field maps to 'case_number'"),
    ],
)
def test_invalid_templates_name_the_problem(change: str, message: str) -> None:
    with pytest.raises(TemplateInvalid, match=message) as info:
        parse_template(json.dumps(_broken(change)), source="t.json")
    assert info.value.errors and info.value.detail.startswith("t.json: ")


def test_not_json_and_wrong_folder(tmp_path: Path) -> None:
    with pytest.raises(TemplateInvalid, match="not valid JSON"):
        parse_template("{")
    folder = tmp_path / "other_name"
    folder.mkdir()
    (folder / "template.json").write_text(json.dumps(_raw()))
    with pytest.raises(TemplateInvalid, match="differs from its folder"):
        load_template(folder)
    with pytest.raises(TemplateInvalid, match="cannot read"):
        load_template(tmp_path / "missing")
    copy = tmp_path / "retention_offer_v1"
    copy.mkdir()
    (copy / "template.json").write_text(json.dumps(_raw()))
    with pytest.raises(TemplateInvalid, match=r"reference\.png is missing"):
        load_template(copy)


@pytest.mark.parametrize(
    "folder", sorted(TEMPLATES.glob("*/template.json")), ids=lambda p: p.parent.name
)
def test_reference_image_is_the_blank_form(folder: Path) -> None:
    stored = Image.open(folder.parent / "reference.png").convert("L")
    fresh = render_image(load_template(folder.parent), None, dpi=150)
    assert stored.size == fresh.size
    diff = ImageChops.difference(stored, fresh).histogram()
    assert sum(diff[64:]) / (fresh.width * fresh.height) < 0.002  # regenerate when it differs
