"""Scan reasons in plain words (``services.scan_reasons``): every kind of reason OCR and
intake store, in the wording the code writes (and wrote: stored rows keep it), comes out
as a sentence a clerk reads; reasons produced live by the OCR code carry no internals."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

from retention_flow.ocr import code as qr
from retention_flow.ocr import omr
from retention_flow.ocr.fields import FieldRead
from retention_flow.ocr.identify import Identifier
from retention_flow.ocr.identity import combine
from retention_flow.ocr.omr import BoxRead
from retention_flow.ocr.register import RegistrationFailed, square_pixels
from retention_flow.ocr.template import CheckboxGroup, OcrField, SignatureField, load_templates
from retention_flow.ocr.validate import (
    FieldResult,
    route,
    validate_checkboxes,
    validate_ocr,
    validate_signature,
)
from retention_flow.services.outreach.response_forms import TEMPLATES_DIR
from retention_flow.services.scans import reasons as scan_reasons

NOT_OURS = scan_reasons.NOT_OUR_FORM
FEATURES = "feature matching: 8 consistent matches (10% of 78); at least 60 and 30% are needed"

#: (stored reason, the sentence shown): one per place in ocr/ and services/ that writes one
KINDS = [
    # registration (ocr/register.py, ocr/features.py, ocr/identify.py)
    ("the page is blank (no print found)", "The page is blank."),
    (
        "the page is sideways (landscape scan of a portrait form)",
        "The page was scanned sideways: scan it upright.",
    ),
    (
        "resolution: the image (400x560 px) would be a full page at 48 dpi; this form is read "
        "between 150 and 600 dpi (or the page is cut off)",
        "The scan is too coarse or too fine, or the page is cut off: scan the whole page at "
        "300 dpi.",
    ),
    (
        "registration marks found: 2 of 4 (top_left, top_right); not this form, or the page "
        "is cut off",
        NOT_OURS,
    ),
    (
        "the orientation mark is missing: page mirrored or sideways?",
        "The page seems mirrored or turned: scan it upright.",
    ),
    (
        "the page is seen at too steep an angle (about 14°, at most 8° can be read): "
        "photograph it from straight above",
        "The photo is taken at a slant: photograph the page from above.",
    ),
    (
        "bad alignment: skewed 7.2° (beyond 5°): feed it straight",
        "The page is skewed: feed it straight and scan it again.",
    ),
    ("bad alignment: marks do not fit the form (2.31 mm off)", scan_reasons.NOT_LINED_UP),
    ("feature matching: too few features on the page", NOT_OURS),
    ("feature matching: 12 features match the form (at least 60)", NOT_OURS),
    ("feature matching: no consistent alignment", NOT_OURS),
    (FEATURES, NOT_OURS),
    (
        "feature matching: the consistent matches cover only 20% x 14% of the page (at "
        "least 35% each way)",
        NOT_OURS,
    ),
    (
        "feature matching: the marks top_left, bottom_right are not where the alignment puts them",
        NOT_OURS,
    ),
    (
        "registration marks found: 0 of 4 (none); not this form, or the page is cut off; "
        + FEATURES,
        NOT_OURS,
    ),
    (
        "no template fits: retention_offer_v1: registration marks found: 0 of 4 (none); not "
        f"this form, or the page is cut off; {FEATURES} | retention_offer_v2: {FEATURES}",
        NOT_OURS,
    ),
    ("the reference of retention_offer_v2 has too few features", scan_reasons.SYSTEM_PROBLEM),
    (
        "the page could not be aligned (ValueError: could not broadcast input array)",
        scan_reasons.NOT_LINED_UP,
    ),
    # field checks, as ocr/validate.route writes them: "<field>: <reason>"
    (
        "case_number: no case RC-2026-999999-9",
        "Case number: no case has the number RC-2026-999999-9.",
    ),
    ("case_number: empty", "Case number: left empty."),
    (
        "case_number: not a case number ('RC 2O26')",
        "Case number: what was read is not a case number.",
    ),
    (
        "case_number: check digits do not match ('RC-2026-000790-7 12')",
        "Case number: the check digits do not match (misread or mistyped).",
    ),
    (
        "case_number: check character does not match ('RC-2026-000790-7')",
        "Case number: the check digits do not match (misread or mistyped).",
    ),
    (
        "case_number: printed with the old check digits (before MOD 97-10): please confirm",
        "Case number: printed with the old check digits: please confirm.",
    ),
    ("case_number: confidence 41 below 70", "Case number: hard to read: please confirm."),
    (
        "case_number: two readings differ ('RC-2026-000790-7' / 'RC-2026-000796-7')",
        "Case number: read two different ways: please confirm.",
    ),
    (
        "case_number: only one of two readings passes (check digits do not match)",
        "Case number: read two different ways: please confirm.",
    ),
    (
        "case_number: read only on a second attempt ('RC-2026-000790-7'): please confirm",
        "Case number: read only on a second look: please confirm.",
    ),
    (
        "case_number: could not be read (TesseractError: (1, 'Error opening data file'))",
        "Case number: could not be read.",
    ),
    (
        "case_number: the OCR engine failed: tesseract exited with 1",
        "Case number: could not be read.",
    ),
    (
        "case_number: too dark in this region to read (shadow or stain?)",
        "Case number: too dark to read (shadow or stain?).",
    ),
    (
        "case_number: the code says RC-2026-000790-7, the printed line RC-2026-000796-7",
        "Case number: the code says RC-2026-000790-7 but the printed line RC-2026-000796-7.",
    ),
    (
        "case_number: confidence 41 below 70; the code names another form (retention_offer_v2)",
        "Case number: hard to read: please confirm; the code belongs to another form.",
    ),
    (
        "case_number: empty; the code's check does not match (damaged code)",
        "Case number: left empty; the code on the page is damaged.",
    ),
    (
        "case_number: empty; the code on the page is not one of our forms' codes",
        "Case number: left empty; the code on the page is not ours.",
    ),
    ("case_number: empty; code unreadable", "Case number: left empty; the code could not be read."),
    ("offer: 2 offers ticked", "Ticked offer: 2 offers ticked."),
    ("offer: no offer ticked", "Ticked offer: no offer ticked."),
    (
        "offer: box 2: ink share 0.081 too close to the line",
        "Ticked offer: the mark in box 2 is unclear (faint, erased or smudged): please look.",
    ),
    (
        "offer: box 1: too dark in this region to judge (shadow or stain?); box 3: two "
        "measurements disagree (ink share 0.120 after evening out the light, 0.020 before)",
        "Ticked offer: the marks in boxes 1 and 3 are unclear (faint, erased or smudged): "
        "please look.",
    ),
    (
        "offer: box 1: implausibly much ink (83% of the area: shadow or stain?)",
        "Ticked offer: the mark in box 1 is unclear (faint, erased or smudged): please look.",
    ),
    ("signature: faint or tiny mark", "Signature: the mark is too faint to be sure."),
    ("signed_on: not a date in the form %d.%m.%Y ('3l.O1')", "Date: not a date (day.month.year)."),
    ("signed_on: implausible year 1926", "Date: the year 1926 cannot be right."),
    ("signed_on: does not match [0-9]{8} ('12-34')", "Date: not in the expected form."),
    # services/scans/ocr_jobs.py, scan_routing.py, scan_exceptions.py
    ("no page image", "No image of this page is stored."),
    (
        "unreadable value: fields.0.confidence: NaN is not interoperable JSON",
        "A value on the page could not be stored: check the page.",
    ),
    ("no readable case number", "No case number could be read on the page."),
    (
        "page could not be read: ValueError: cannot reshape array of size 0",
        scan_reasons.SYSTEM_PROBLEM,
    ),
    ("the tesseract binary is not on PATH", scan_reasons.SYSTEM_PROBLEM),
    (
        "not correlated: no open case matches {'case_number': 'RC-2026-000790-7'}",
        "No open case has the case number RC-2026-000790-7.",
    ),
    (
        "not correlated: more than one open case matches {'case_number': 'RC-2026-000790-7'}",
        "More than one open case has this case number.",
    ),
    (
        "not correlated: case 0b6c5e1e-3f0a-4b8e-9d43-1c2f5c1d6a77 is suspended; resume it first",
        "The case is suspended: it takes the form once someone resumes it.",
    ),
    (
        "not correlated: the case is not waiting for message 'response_form'",
        "The case is not waiting for a response form (it has moved on or already has one).",
    ),
    (
        "not correlated: case 0b6c5e1e-3f0a-4b8e-9d43-1c2f5c1d6a77 is completed",
        "The case has already ended (completed).",
    ),
    (
        "assigned to RC-2026-000790-7 by bea; not correlated: no open case matches "
        "{'case_number': 'RC-2026-000790-7'}",
        "Assigned to RC-2026-000790-7 by bea, but no open case has the case number "
        "RC-2026-000790-7.",
    ),
    (
        "no exception task could be opened: process scan_exception is not deployed",
        "No task could be opened for this page.",
    ),
]

#: what a clerk must never see: reprs, identifiers, class names, raw measurements
INTERNALS = re.compile(
    r"[{}\[\]'|]|\b[a-z]+_[a-z_]+\b|Error\b|Exception\b|feature|inlier|\d\.\d{2,}|\bNaN\b"
)


def internals(text: str) -> list[str]:
    return INTERNALS.findall(text)


@pytest.mark.parametrize(("stored", "shown"), KINDS, ids=[k[0][:50] for k in KINDS])
def test_every_stored_reason_kind_reads_as_a_plain_sentence(stored: str, shown: str) -> None:
    assert scan_reasons.plain(stored) == shown
    assert internals(shown) == []


@pytest.mark.parametrize(
    "stored",
    [
        "something new {'case_number': 'RC-2026-000790-7', 'scan_id': 'x'} (KeyError: 'y')",
        "not correlated: the engine said ValueError: bad {'page_no': 3}",
        "decode_limit: 0.1234 of 'budget_ms' used",
    ],
)
def test_an_unknown_reason_is_cleaned_of_internals(stored: str) -> None:
    shown = scan_reasons.plain(stored)
    assert shown and shown[0].isupper() and shown.endswith(".")
    assert internals(shown) == [], shown


def test_titles_say_what_happened_in_short() -> None:
    title = scan_reasons.task_title(["case_number: no case RC-2026-999999-9"])
    assert title == "Scanned page not booked: no case has the number RC-2026-999999-9"
    assert scan_reasons.task_title([FEATURES]) == (
        "Scanned page not booked: this is not one of our response forms, or the page is cut "
        "off or damaged"
    )
    assert scan_reasons.task_title([]) == "Scanned page not booked: not matched to a waiting case"
    assert scan_reasons.plain_all(["no page image", "no page image"]) == [
        "No image of this page is stored."
    ]


def test_ticked_boxes_read_without_their_case_show_as_box_numbers() -> None:
    field = {"kind": "checkbox_group", "value": [0, 2]}
    assert scan_reasons.field_value(field) == ["box 1", "box 3"]
    assert scan_reasons.field_value({"kind": "checkbox_group", "value": "DISCOUNT_10"}) == (
        "DISCOUNT_10"
    )
    assert scan_reasons.field_value({"kind": "signature", "value": True}) is True


# --------------------------------------------------------------------------- live reasons


def _registration_reasons() -> list[str]:
    """What the real registration says about pages that are not a readable form."""
    templates = list(load_templates(TEMPLATES_DIR).values())
    identifier = Identifier(templates, 300, features=True)
    rng = np.random.default_rng(7)
    pages = {
        "blank": np.full((1754, 1240), 255, np.uint8),
        "sideways": np.full((1240, 1754), 255, np.uint8),
        "tiny": np.full((280, 200), 255, np.uint8),
        "noise": rng.integers(0, 256, (1754, 1240), dtype=np.uint8),
        "text": np.asarray(Image.new("L", (1240, 1754), 255)).copy(),
    }
    pages["text"][300:320, 100:1100] = 0  # a printed line, no marks
    out = []
    for gray in pages.values():
        try:
            identifier.identify(square_pixels(gray, templates[0]))
        except RegistrationFailed as exc:
            out.append(exc.reason)
    return out


def _field_reasons() -> list[str]:
    """What the real field checks say (ocr/validate, ocr/omr, ocr/code, ocr/identity)."""
    template = next(iter(load_templates(TEMPLATES_DIR).values()))
    text = [f for f in template.fields if isinstance(f, OcrField)]
    group = next(f for f in template.fields if isinstance(f, CheckboxGroup))
    signature = next(f for f in template.fields if isinstance(f, SignatureField))
    results: list[FieldResult] = []
    for field in text:
        for read in (
            FieldRead("", 100.0, 4, empty=True),
            FieldRead("RC 2O26 X", 91.0, 4, empty=False),
            FieldRead("31.02.1926", 91.0, 4, empty=False),
            FieldRead("RC-2026-000790-7 12", 20.0, 4, empty=False),
            FieldRead("", 0.0, 4, empty=False, problem="the OCR engine failed: exit 1"),
        ):
            results.append(validate_ocr(field, read))
    states = [
        omr.decide(0.5, 0.5, empty_max=0.05, marked_min=0.1, saturated=0.4, too_dark=False),
        omr.decide(0.1, 0.1, empty_max=0.05, marked_min=0.1, saturated=0.4, too_dark=True),
        omr.decide(0.098, 0.098, empty_max=0.05, marked_min=0.1, saturated=0.4, too_dark=False),
        omr.decide(0.2, 0.01, empty_max=0.05, marked_min=0.1, saturated=0.4, too_dark=False),
    ]
    reads = [BoxRead(0.3, "marked", True), BoxRead(0.3, "marked", True)]
    reads += [BoxRead(0.1, state, True, why) for state, why in states if why]
    offers = ["DISCOUNT_10", "UPGRADE_DATA", "LOYALTY_BONUS", "NEW_DEVICE", "DISCOUNT_20"]
    results.append(validate_checkboxes(group, reads[: len(offers)], offers))
    results.append(validate_checkboxes(group, reads[:2], offers[:2]))
    results.append(validate_checkboxes(group, [BoxRead(0.0, "empty", True)], offers[:1]))
    results.append(validate_signature(signature, BoxRead(0.1, "unsure", True)))
    case = results[0]
    for coded in (
        qr.parse("nonsense", template.id),
        qr.parse("RF|RC-2026-000790-7|other_form|1|00000000", template.id),
        qr.CodeRead(None, problem="code unreadable"),
        qr.CodeRead("RC-2026-000790-7", template.id, 1),
    ):
        results.append(combine(case, coded))
        results.append(
            combine(case.model_copy(update={"value": "RC-2026-1", "status": "ok"}), coded)
        )
    _status, reasons = route(results, text[0].name)
    return reasons


def test_reasons_the_ocr_code_produces_now_read_without_internals() -> None:
    produced = _registration_reasons() + _field_reasons()
    assert len(produced) >= 12  # the cases above did produce reasons
    for reason in produced:
        shown = scan_reasons.plain(reason)
        assert internals(shown) == [], f"{reason!r} -> {shown!r}"
        assert shown[0].isupper() and shown.endswith("."), shown
