"""``/api/scans`` over HTTP: upload several files at once, read a scan back, roles."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.cases.views import CaseView
from retention_flow.services.platform.context import AppContext
from tests.scans.conftest import form_png


@pytest.mark.tesseract
@pytest.mark.usefixtures("ocr_engine")
def test_upload_and_read_back(
    ctx: AppContext,
    client: TestClient,
    auth: Callable[[str, str], dict[str, str]],
    mail_case: CaseView,
) -> None:
    back = auth("bea", "back_office")
    files = [
        ("files", ("form.png", form_png(mail_case), "image/png")),
        ("files", ("empty.pdf", b"", "application/pdf")),
    ]
    response = client.post("/api/scans", headers=back, files=files)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["count"] == 2
    form, empty = body["data"]
    assert form["status"] == "read" and form["pages"][0]["status"] == "processed"
    assert form["pages"][0]["case_id"] == mail_case.id
    assert empty["status"] == "unreadable" and empty["error"] and empty["pages"] == []
    assert cases.get_case(ctx, mail_case.id).outcome == "retained"

    auditor = auth("aud", "auditor")
    got = client.get(f"/api/scans/{form['id']}", headers=auditor)
    assert got.status_code == 200 and got.json() == form
    assert client.get("/api/scans/unknown", headers=auditor).status_code == 404


def test_roles(client: TestClient, auth: Callable[[str, str], dict[str, str]]) -> None:
    auditor = auth("aud", "auditor")
    files = [("files", ("junk.bin", b"junk", "application/octet-stream"))]
    assert client.post("/api/scans", headers=auditor, files=files).status_code == 403
    assert client.post("/api/scans", files=files).status_code == 401
    agent = auth("al", "agent")
    assert client.get("/api/scans/x", headers=agent).status_code == 403
    back = auth("bea", "back_office")
    response = client.post("/api/scans", headers=back, files=files)
    assert response.status_code == 200, response.text
    [scan] = response.json()["data"]
    assert scan["status"] == "unreadable"
