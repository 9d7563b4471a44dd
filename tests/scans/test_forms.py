"""Printable response forms: the mail channel's letter keeps the form it was printed
with, ``retention-flow forms print --case`` renders it, and the PDF reads back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from retention_flow.db.session import read_session
from retention_flow.db.tables import LETTER
from retention_flow.ocr.pages import rasterise_pdf
from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.cases.views import CaseView
from retention_flow.services.outreach import response_forms as forms
from retention_flow.services.platform.context import AppContext
from retention_flow.services.scans.ocr_jobs import form_reader
from tests.scans.conftest import BACK, START, run_cli


def test_the_letter_keeps_its_form_and_prints_the_same_bytes(
    ctx: AppContext, mail_case: CaseView
) -> None:
    with read_session(ctx.db) as session:
        [document] = session.execute(
            select(LETTER.c.document).where(
                LETTER.c.case_id == mail_case.id, LETTER.c.kind == "response_form"
            )
        ).scalars()
    data = mail_case.data
    assert document["case_number"] == data["case_number"]
    assert document["customer_name"] == data["customer_name"]
    assert [o["code"] for o in document["offers"]] == data["eligible_offers"]
    assert document["template"] == "retention_offer_v1"
    printed, pdf = forms.case_form(ctx, mail_case.id)
    assert printed == document and pdf.startswith(b"%PDF-")
    assert forms.case_form(ctx, mail_case.id)[1] == pdf  # deterministic


@pytest.mark.tesseract
@pytest.mark.usefixtures("ocr_engine")
def test_forms_print_cli_for_a_live_mail_case(ctx: AppContext, db_url: str, tmp_path: Path) -> None:
    case = cases.start_case(ctx, BACK, "mail_response", START, business_key="MAIL-42")
    out = tmp_path / "form.pdf"
    proc = run_cli(db_url, "forms", "print", "--case", "MAIL-42", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["case_number"] == START["case_number"] and summary["bytes"] > 1000
    [page] = rasterise_pdf(out.read_bytes(), max_pages=1)
    read = form_reader(ctx).read_page(
        page, lambda n: cases.get_case(ctx, case.id).data["eligible_offers"]
    )
    assert read.case_number == START["case_number"]  # the printed number reads back

    missing = run_cli(db_url, "forms", "print", "--case", "no-such-case")
    assert missing.returncode == 2 and "not_found" in missing.stderr
