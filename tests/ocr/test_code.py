"""The 2D code on every form and the two-channel identification of the case."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image, ImageDraw

from retention_flow.ocr.code import CodeRead, parse, payload, read_code
from retention_flow.ocr.forms import FormData, render_image
from retention_flow.ocr.identity import combine
from retention_flow.ocr.pipeline import FormReader
from retention_flow.ocr.readers import LineRead
from retention_flow.ocr.register import MM_PER_INCH, register
from retention_flow.ocr.template import FormTemplate
from retention_flow.ocr.validate import FieldResult

CASE = "RC-2026-000123-6"
LINK = "https://answer.example.invalid/s/AbCdEfGhIjKlMnOp.QrStUvWxYz12"


def test_payload_round_trip_and_checks() -> None:
    text = payload(CASE, "retention_offer_v1")
    assert parse(text, "retention_offer_v1") == CodeRead(CASE, "retention_offer_v1", 1)
    damaged = text.replace("000123", "000128")
    assert parse(damaged, "retention_offer_v1").problem == (
        "the code's check does not match (damaged code)"
    )
    other = parse(payload(CASE, "retention_offer_v2"), "retention_offer_v1")
    assert other.case_number is None and "another form" in str(other.problem)
    assert parse("https://example.invalid", "retention_offer_v1").case_number is None


def test_a_code_written_before_links_is_read_as_it_was_printed() -> None:
    """Forms already mailed carry the plain payload: this exact text stays readable."""
    mailed = "RF1|RC-2026-000123-6|retention_offer_v1|1|068E8A60"
    assert payload(CASE, "retention_offer_v1") == mailed
    assert parse(mailed, "retention_offer_v1") == CodeRead(CASE, "retention_offer_v1", 1)


def test_the_link_payload_is_the_link_with_the_form_in_its_fragment() -> None:
    text = payload(CASE, "retention_offer_v1", 1, LINK)
    assert text.startswith(f"{LINK}#rf2.{CASE}.retention_offer_v1.1.")
    assert parse(text, "retention_offer_v1") == CodeRead(CASE, "retention_offer_v1", 1, link=LINK)
    other = parse(payload(CASE, "retention_offer_v2", 1, LINK), "retention_offer_v1")
    assert (other.case_number, other.template_id, other.link) == (None, "retention_offer_v2", LINK)
    assert "another form" in str(other.problem)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("000123", "000128"),  # the case number in the fragment
        ("AbCdEf", "AbCdEg"),  # the link (another customer's token)
        (".retention_offer_v1.1.", ".retention_offer_v1.2."),  # the page
        ("https://answer.example.invalid", "https://answer.example.evil"),
    ],
)
def test_a_tampered_link_payload_is_refused(old: str, new: str) -> None:
    text = payload(CASE, "retention_offer_v1", 1, LINK)
    assert old in text
    read = parse(text.replace(old, new), "retention_offer_v1")
    assert read == CodeRead(None, problem="the code's check does not match (damaged code)")


@pytest.mark.parametrize(
    "text",
    [
        f"{LINK}#rf2.{CASE}.retention_offer_v1.1",  # no check
        f"{LINK}#rf2.{CASE}.retention_offer_v1.1.XYZ12345",
        f"{LINK}#rf3.{CASE}.retention_offer_v1.1.00000000",
        f"ftp://x/s/t#rf2.{CASE}.retention_offer_v1.1.00000000",
        f"{LINK}",  # a bare link: a customer's, but no form data
    ],
)
def test_a_malformed_link_payload_is_not_one_of_ours(text: str) -> None:
    assert parse(text, "retention_offer_v1").problem == (
        "the code on the page is not one of our forms' codes"
    )


@pytest.mark.parametrize(
    ("link", "case"),
    [("answer.example.invalid/s/x", CASE), (f"{LINK}#x", CASE), (LINK, "RC.2026")],
)
def test_a_payload_that_would_not_read_back_is_refused(link: str, case: str) -> None:
    with pytest.raises(ValueError, match="cannot carry link"):
        payload(case, "retention_offer_v1", 1, link)


@pytest.mark.parametrize("link", [None, LINK])
def test_the_printed_code_is_read_in_either_format(
    template: FormTemplate, form_data: FormData, link: str | None
) -> None:
    assert template.code is not None
    data = FormData(
        form_data.case_number,
        form_data.customer_name,
        form_data.address_lines,
        form_data.offers,
        {"self_service_url": link} if link else {},
    )
    for dpi in (300, 150):
        page = np.asarray(render_image(template, data, dpi=dpi).convert("L"))
        read = read_code(register(page, template), template.code, template.id, dpi)
        assert (read.case_number, read.link) == (CASE, link), dpi


def test_the_printed_code_is_read(
    template: FormTemplate, make_filled: Callable[..., Image.Image]
) -> None:
    assert template.code is not None
    reg = register(np.asarray(make_filled().convert("L")), template)
    assert read_code(reg, template.code, template.id, 300).case_number == CASE


def _printed(status: str, value: str | None, reason: str | None = None) -> FieldResult:
    return FieldResult(
        name="case_number",
        kind="text",
        target="case_number",
        value=value,
        confidence=90.0,
        status=status,
        reason=reason,
    )


@pytest.mark.parametrize(
    ("printed", "code", "status", "value"),
    [
        # both agree
        (_printed("ok", CASE), CodeRead(CASE), "ok", CASE),
        (_printed("unsure", CASE, "only one of two readings passes"), CodeRead(CASE), "ok", CASE),
        # one readable and valid
        (_printed("invalid", None, "empty"), CodeRead(CASE), "ok", CASE),
        (_printed("ok", CASE), CodeRead(None, problem="code unreadable"), "ok", CASE),
        # disagree
        (_printed("ok", "RC-2026-000124-6"), CodeRead(CASE), "unsure", "RC-2026-000124-6"),
        (_printed("unsure", "RC-1", "two readings differ"), CodeRead(CASE), "unsure", "RC-1"),
        # neither
        (
            _printed("invalid", None, "empty"),
            CodeRead(None, problem="code unreadable"),
            "invalid",
            None,
        ),
        # a code of another form
        (
            _printed("ok", CASE),
            CodeRead(None, "retention_offer_v2", 1, "the code names another form"),
            "unsure",
            CASE,
        ),
    ],
)
def test_two_channels(printed: FieldResult, code: CodeRead, status: str, value: str | None) -> None:
    decided = combine(printed, code)
    assert (decided.status, decided.value) == (status, value)
    if status != "ok":
        assert decided.reason


class _Blind:
    """An OCR engine that reads nothing: only the code can identify the page."""

    name = "blind"

    def read_line(self, image: np.ndarray, whitelist: str) -> LineRead:
        return LineRead("", 0.0)


def test_a_covered_case_line_is_identified_by_the_code(
    template: FormTemplate, make_filled: Callable[..., Image.Image]
) -> None:
    page = make_filled().copy()
    k = 300 / MM_PER_INCH
    box = template.field("case_number").box  # type: ignore[union-attr]
    ImageDraw.Draw(page).rectangle(
        (box.x * k + 20, box.y * k + 20, box.right * k - 20, box.bottom * k - 20), fill=255
    )
    result = FormReader([template], reader=_Blind()).read_page(page)
    assert result.case_number == CASE
    assert result.field("case_number").status == "ok"


@pytest.mark.tesseract
def test_a_covered_code_leaves_the_printed_line(
    template: FormTemplate, make_filled: Callable[..., Image.Image], form_reader: FormReader
) -> None:
    page = make_filled().copy()
    k = 300 / MM_PER_INCH
    code = template.code
    assert code is not None
    ImageDraw.Draw(page).rectangle(
        (code.x * k, code.y * k, code.right * k, code.bottom * k), fill=255
    )
    result = form_reader.read_page(page)
    assert result.case_number == CASE and result.field("case_number").status == "ok"
