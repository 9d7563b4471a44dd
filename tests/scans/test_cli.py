"""``retention-flow scan FOLDER``: every file read, each page's result printed."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.platform.context import AppContext
from tests.scans.conftest import BACK, START, form_png, run_cli


@pytest.mark.tesseract
@pytest.mark.usefixtures("ocr_engine")
def test_scan_folder(ctx: AppContext, clock: Any, db_url: str, tmp_path: Path) -> None:
    # the CLI runs on the real clock: the case must be young there, or its 14-day answer
    # deadline has long passed and the process takes the reminder path instead
    clock.set(datetime.now(UTC))
    mail_case = cases.get_case(ctx, cases.start_case(ctx, BACK, "mail_response", START).id)
    folder = tmp_path / "inbox"
    folder.mkdir()
    (folder / "a_form.png").write_bytes(form_png(mail_case))
    (folder / "b_empty.tif").write_bytes(b"")
    proc = run_cli(db_url, "scan", str(folder))
    assert proc.returncode == 0, proc.stderr
    form, empty = json.loads(proc.stdout)
    assert form["file"] == "a_form.png" and form["status"] == "read"
    assert [p["status"] for p in form["pages"]] == ["processed"]
    assert form["pages"][0]["case_id"] == mail_case.id
    assert empty["file"] == "b_empty.tif" and empty["status"] == "unreadable"
    assert empty["error"] and empty["pages"] == []
    after = cases.get_case(ctx, mail_case.id)
    assert after.data["response_form"]["uncertain"] is False
    assert (after.status, after.outcome) == ("completed", "retained")
