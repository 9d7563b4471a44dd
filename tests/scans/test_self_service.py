"""Customer self-service: the personal link on the response form answers the waiting case
like a mailed form, once, only before it expires, and shows the customer no more than
their first name and the offers in their letter."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import numpy as np
import pypdfium2 as pdfium
import pytest
import zxingcpp
from fastapi.testclient import TestClient
from sqlalchemy import select

from retention_flow.core.clock import FrozenClock
from retention_flow.db.session import read_session
from retention_flow.db.tables import AUDIT_EVENT, LETTER, SELF_SERVICE_LINK
from retention_flow.ocr.code import parse, read_code
from retention_flow.ocr.pages import rasterise_pdf
from retention_flow.ocr.register import register
from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.cases.views import CaseView
from retention_flow.services.outreach import response_forms as forms
from retention_flow.services.platform.context import AppContext
from retention_flow.services.scans import intake as scans
from tests.scans.conftest import BACK, START, form_png, messages_to


def _link(ctx: AppContext, case_id: str) -> str:
    """The path of the link printed on the case's response form (``/s/<token>``)."""
    with read_session(ctx.db) as session:
        document = session.execute(
            select(LETTER.c.document).where(
                LETTER.c.case_id == case_id, LETTER.c.kind == "response_form"
            )
        ).scalar_one()
    url = str(document["self_service_url"])
    assert url.startswith(ctx.settings.self_service_base_url + "/s/"), url
    return url.removeprefix(ctx.settings.self_service_base_url)


def _csrf(page_html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page_html)
    assert found, page_html[:500]
    return found.group(1)


def _answer(client: TestClient, link: str, choice: str, csat: str = "") -> Any:
    page = client.get(link)
    assert page.status_code == 200, page.text
    form = {"csrf_token": _csrf(page.text), "choice": choice, "csat": csat}
    review = client.post(link, data=form)
    assert review.status_code == 200 and "Please confirm" in review.text, review.text
    return client.post(link, data={**form, "confirm": "yes"})


def test_the_customer_accepts_an_offer_through_the_link(
    ctx: AppContext, mail_case: CaseView, client: TestClient
) -> None:
    offers = mail_case.data["eligible_offers"]
    link = _link(ctx, mail_case.id)
    page = client.get(link)
    assert page.status_code == 200
    first, *rest = str(mail_case.data["customer_name"]).split()
    assert f"Hello {first}," in page.text
    for word in rest:  # only the first name is shown
        assert word not in page.text
    assert mail_case.data["case_number"] not in page.text
    for code in offers:
        assert f'value="{code}"' in page.text

    done = _answer(client, link, offers[1], csat="4")
    assert done.status_code == 200, done.text
    assert "Your answer has reached us" in done.text

    case = cases.get_case(ctx, mail_case.id)
    assert case.status == "completed" and case.outcome == "retained"
    assert case.data["offer_code"] == offers[1]
    assert case.data["csat"] == 4
    assert case.data["response_form"]["source"] == "self_service"
    assert messages_to(ctx, mail_case.id) == 1
    with read_session(ctx.db) as session:
        actors = session.execute(
            select(AUDIT_EVENT.c.actor).where(
                AUDIT_EVENT.c.case_id == mail_case.id,
                AUDIT_EVENT.c.type == "message_correlated",
            )
        ).scalars()
        assert list(actors) == ["customer"]
        used = session.execute(
            select(SELF_SERVICE_LINK.c.used_at, SELF_SERVICE_LINK.c.answer)
        ).one()
    assert used.used_at is not None and used.answer == {"chosen_offer": offers[1], "csat": 4}

    again = client.get(link)  # single use
    assert again.status_code == 410 and "already been used" in again.text


def test_a_second_submit_books_nothing_more(
    ctx: AppContext, mail_case: CaseView, client: TestClient
) -> None:
    offers = mail_case.data["eligible_offers"]
    link = _link(ctx, mail_case.id)
    page = client.get(link)
    form = {"csrf_token": _csrf(page.text), "choice": offers[0], "confirm": "yes"}
    assert client.post(link, data=form).status_code == 200
    second = client.post(link, data=form)  # the same confirmation sent twice
    assert second.status_code == 410 and "already been used" in second.text
    assert messages_to(ctx, mail_case.id) == 1


def test_declining_ends_the_case_lost(
    ctx: AppContext, mail_case: CaseView, client: TestClient
) -> None:
    done = _answer(client, _link(ctx, mail_case.id), "none")
    assert done.status_code == 200 and "you do not want any of the offers" in done.text
    case = cases.get_case(ctx, mail_case.id)
    assert case.status == "completed" and case.outcome != "retained"
    assert "csat" not in case.data


def test_an_offer_not_in_the_letter_is_refused_with_nothing_changed(
    ctx: AppContext, mail_case: CaseView, client: TestClient
) -> None:
    link = _link(ctx, mail_case.id)
    page = client.get(link)
    form = {"csrf_token": _csrf(page.text), "choice": "FREE_PHONE", "confirm": "yes"}
    refused = client.post(link, data=form)
    assert refused.status_code == 422 and "Please choose an offer" in refused.text
    bad_rating = {**form, "choice": mail_case.data["eligible_offers"][0], "csat": "9"}
    refused = client.post(link, data=bad_rating)
    assert refused.status_code == 422 and "from 1 to 5" in refused.text
    assert messages_to(ctx, mail_case.id) == 0
    assert client.get(link).status_code == 200  # still usable


def test_altered_and_expired_links_are_refused(
    ctx: AppContext, mail_case: CaseView, client: TestClient, clock: FrozenClock
) -> None:
    link = _link(ctx, mail_case.id)
    token = link.removeprefix("/s/")
    link_id, _, signature = token.partition(".")
    flipped = link_id[:-1] + ("A" if link_id[-1] != "A" else "B")
    for bad in (f"{flipped}.{signature}", f"{link_id}.{signature[:-1]}x", link_id, "x" * 300):
        response = client.get(f"/s/{bad}")
        assert response.status_code == 404 and "not valid" in response.text, bad
    clock.advance(timedelta(days=ctx.settings.self_service_link_days, seconds=1))
    expired = client.get(link)
    assert expired.status_code == 410 and "expired" in expired.text
    assert messages_to(ctx, mail_case.id) == 0


def test_requests_are_rate_limited_per_address(
    ctx: AppContext, mail_case: CaseView, client: TestClient, clock: FrozenClock
) -> None:
    ctx.settings = ctx.settings.model_copy(update={"self_service_requests_per_minute": 3})
    link = _link(ctx, mail_case.id)
    assert [client.get(link).status_code for _ in range(3)] == [200, 200, 200]
    busy = client.get("/s/guessed.token")  # guesses count too
    assert busy.status_code == 429 and int(busy.headers["Retry-After"]) >= 1
    assert "Too many requests" in busy.text
    clock.advance(timedelta(minutes=1))
    assert client.get(link).status_code == 200


def test_the_printed_form_carries_the_link(ctx: AppContext, mail_case: CaseView) -> None:
    link = _link(ctx, mail_case.id)
    _document, pdf = forms.case_form(ctx, mail_case.id)
    text = pdfium.PdfDocument(pdf)[0].get_textpage().get_text_range()
    assert f"Or answer online: {ctx.settings.self_service_base_url}{link}" in text


@pytest.mark.tesseract
@pytest.mark.usefixtures("ocr_engine")
def test_a_paper_form_after_the_online_answer_goes_to_a_person(
    ctx: AppContext, mail_case: CaseView, client: TestClient
) -> None:
    offers = mail_case.data["eligible_offers"]
    assert _answer(client, _link(ctx, mail_case.id), offers[0]).status_code == 200
    scan = scans.ingest(ctx, BACK, "late.png", form_png(mail_case, ticks=(2,))).model_dump()
    [page] = scan["pages"]
    assert page["status"] == "exception", page
    case = cases.get_case(ctx, mail_case.id)
    assert case.outcome == "retained" and case.data["offer_code"] == offers[0]
    assert messages_to(ctx, mail_case.id) == 1


def _printed_code(pdf: bytes, dpi: int = 200) -> str:
    """What a phone camera reads from the printed form: the one QR code on the page."""
    [page] = rasterise_pdf(pdf, dpi=dpi, max_pages=1)
    found = zxingcpp.read_barcodes(
        np.asarray(page.convert("L")),
        # zxingcpp's stub types ``formats`` as BarcodeFormats only; the binding (and its
        # docstring) takes a single BarcodeFormat as well
        formats=zxingcpp.BarcodeFormat.QRCode,  # type: ignore[arg-type]
    )
    assert len(found) == 1, found
    return str(found[0].text)


def test_the_printed_code_opens_the_offer_page_and_still_names_the_case(
    ctx: AppContext, mail_case: CaseView, client: TestClient
) -> None:
    link = ctx.settings.self_service_base_url + _link(ctx, mail_case.id)
    _document, pdf = forms.case_form(ctx, mail_case.id)
    scanned = _printed_code(pdf)
    assert scanned.startswith(f"{link}#rf2.{mail_case.data['case_number']}."), scanned

    page = client.get(scanned)  # what the phone's browser asks for (the fragment stays home)
    assert page.status_code == 200, page.text
    assert f"Hello {str(mail_case.data['customer_name']).split()[0]}," in page.text
    for code in mail_case.data["eligible_offers"]:
        assert f'value="{code}"' in page.text

    # the back office reads case, template and page from the same code on the scanned page
    template = forms.template()
    assert template.code is not None
    [image] = rasterise_pdf(pdf, dpi=150, max_pages=1)
    read = read_code(
        register(np.asarray(image.convert("L")), template), template.code, template.id, 150
    )
    assert (read.case_number, read.template_id, read.page, read.link) == (
        mail_case.data["case_number"],
        template.id,
        1,
        link,
    )
    # printed again: the same document, so the same link (one per letter), byte for byte
    assert forms.case_form(ctx, mail_case.id)[1] == pdf


def test_without_a_base_url_there_is_no_link_and_the_code_is_the_old_one(
    ctx: AppContext,
) -> None:
    ctx.settings = ctx.settings.model_copy(update={"self_service_base_url": ""})
    case = cases.start_case(ctx, BACK, "mail_response", START)
    document, pdf = forms.case_form(ctx, case.id)
    assert "self_service_url" not in document
    with read_session(ctx.db) as session:
        assert session.execute(select(SELF_SERVICE_LINK.c.id)).first() is None
    assert "answer online" not in pdfium.PdfDocument(pdf)[0].get_textpage().get_text_range()
    scanned = _printed_code(pdf)
    number = cases.get_case(ctx, case.id).data["case_number"]
    assert scanned.startswith(f"RF1|{number}|retention_offer_v1|1|"), scanned
    assert parse(scanned, "retention_offer_v1").case_number == number
