"""The watched inbox folder: settled files are ingested once and moved to processed/ or
failed/; a file still being written is not read early; the same bytes are the same scan."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from retention_flow.core.clock import FrozenClock
from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.cases.views import CaseView
from retention_flow.services.platform.context import AppContext
from retention_flow.services.scans.inbox import Inbox
from tests.scans.conftest import blank_png, form_png
from tests.scans.hostile_files import png_claiming

pytestmark = [pytest.mark.tesseract, pytest.mark.usefixtures("ocr_engine")]
SETTLE = timedelta(seconds=3)


def test_inbox_takes_settled_files_once(
    ctx: AppContext, clock: FrozenClock, mail_case: CaseView, tmp_path: Path
) -> None:
    folder = tmp_path / "inbox"
    folder.mkdir()
    inbox = Inbox(ctx, folder, settle_seconds=2.0)
    form = form_png(mail_case)
    blank = blank_png()
    (folder / "form.png").write_bytes(form)
    (folder / "junk.pdf").write_bytes(b"%PDF-1.4 not really")
    (folder / "bomb.png").write_bytes(png_claiming(100_000, 100_000))
    (folder / "late.png").write_bytes(blank[:200])  # still being copied
    (folder / "copying.tif.part").write_bytes(b"partial")
    assert inbox.poll() == []  # first sight: nothing has held still yet

    with (folder / "late.png").open("ab") as handle:
        handle.write(blank[200:])
    clock.advance(SETTLE)
    done = {d["file"]: d for d in inbox.poll()}
    assert set(done) == {"form.png", "junk.pdf", "bomb.png"}
    assert done["form.png"]["status"] == "read"
    assert (folder / "processed" / "form.png").read_bytes() == form
    assert done["junk.pdf"]["status"] == "unreadable"
    assert (folder / "failed" / "junk.pdf.error.txt").read_text().strip()
    assert done["bomb.png"]["status"] == "refused" and done["bomb.png"]["scan_id"] is None
    assert "decompression bomb" in (folder / "failed" / "bomb.png.error.txt").read_text()
    assert (folder / "late.png").exists() and (folder / "copying.tif.part").exists()
    assert cases.get_case(ctx, mail_case.id).outcome == "retained"

    clock.advance(SETTLE)
    [late] = inbox.poll()  # complete now: read whole, not as a truncated file
    assert late["file"] == "late.png" and late["status"] == "read"

    (folder / "form.png").write_bytes(form)  # the same scan dropped in again
    inbox.poll()
    clock.advance(SETTLE)
    [again] = inbox.poll()
    assert again["scan_id"] == done["form.png"]["scan_id"]
    assert (folder / "processed").joinpath(Path(again["moved_to"]).name).exists()
    assert sorted(p.name for p in folder.iterdir() if p.is_file()) == ["copying.tif.part"]
