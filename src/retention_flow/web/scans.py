"""Back-office scanning: upload one or many scanned response forms (drag and drop; each
file is sent on its own so every file shows its progress), see where each page went
(fields, confidence, the case), and the crops the verification task shows."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, File, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.platform.context import Actor, AppContext
from retention_flow.services.scans import intake as scans
from retention_flow.services.scans import review as scan_review
from retention_flow.services.scans.views import ScanView

from ..core.errors import RetentionFlowError, ScanLimitExceeded
from .errors import plain_words
from .session import PageCtx, page_router, require_page_role
from .templating import render

router = page_router()

Uploader = Annotated[Actor, Depends(require_page_role("back_office"))]
Reader = Annotated[Actor, Depends(require_page_role("back_office", "auditor"))]
Files = Annotated[list[UploadFile], File()]
ACCEPT = ".png,.jpg,.jpeg,.tif,.tiff,.pdf"
PENDING = frozenset({"queued", "reading"})


def _with_tasks(ctx: AppContext, view: ScanView, with_images: bool = False) -> dict[str, Any]:
    """The scan with, per page, the open task of its case (the verification to do) and,
    ``with_images``, the page's size and read zones (its image is drawn with them)."""
    pages = []
    scan = view.model_dump()
    for page in scan["pages"]:
        task = None
        owner = None
        if page.get("case_id") and page["status"] == "verification":
            owner = page["case_id"]
        elif page.get("exception_case_id") and page["status"] == "exception":
            owner = page["exception_case_id"]  # its "resolve" task
        if owner:
            open_tasks = cases.get_case(ctx, owner).open_tasks
            task = next((t for t in open_tasks if t.role == "back_office"), None)
        zones = scan_review.page_zones(ctx, scan["id"], page["page_no"]) if with_images else None
        pages.append({**page, "task": task, "zones": zones})
    pending = scan["status"] in PENDING or any(p["status"] in PENDING for p in pages)
    return {**scan, "pages": pages, "pending": pending}


def _ingest(ctx: AppContext, user: Actor, upload: UploadFile) -> dict[str, Any]:
    limit = ctx.settings.max_upload_bytes
    name = upload.filename or "(unnamed)"
    data = upload.file.read(limit + 1)
    if len(data) > limit:
        return {"filename": name, "failed": f"The file is larger than {limit // 1024} KiB."}
    try:
        return _with_tasks(ctx, scans.ingest(ctx, user, name, data))
    except ScanLimitExceeded as exc:  # the reason and the limit, not just "too large"
        return {"filename": name, "failed": exc.detail}
    except RetentionFlowError as exc:
        return {"filename": name, "failed": plain_words(exc)}


@router.get("/scans", response_class=HTMLResponse)
def scans_page(request: Request, ctx: PageCtx, user: Uploader) -> Response:
    context = {"recent": scan_review.recent_scans(ctx), "accept": ACCEPT}
    return render(ctx, request, "scans.html", context, user=user)


@router.post("/scans", response_class=HTMLResponse)
def upload(request: Request, ctx: PageCtx, user: Uploader, files: Files) -> Response:
    """Read the files; the browser's script sends one file per request and shows the
    answer (a fragment) in that file's row, a plain form post gets the whole page."""
    results = [_ingest(ctx, user, f) for f in files if f.filename]
    if request.headers.get("hx-request"):
        return render(ctx, request, "_scan_results.html", {"results": results}, user=user)
    context = {"recent": scan_review.recent_scans(ctx), "accept": ACCEPT, "results": results}
    return render(ctx, request, "scans.html", context, user=user)


@router.get("/scans/{scan_id}", response_class=HTMLResponse)
def scan_page(request: Request, ctx: PageCtx, user: Reader, scan_id: str) -> Response:
    """One scan's pages; refreshes itself while pages are still being read."""
    results = [_with_tasks(ctx, scans.get_scan(ctx, scan_id), with_images=True)]
    name = "_scan_results.html" if request.headers.get("hx-request") else "scan.html"
    return render(ctx, request, name, {"results": results, "scan_id": scan_id}, user=user)


@router.get("/scans/{scan_id}/pages/{page_no}/fields/{field}.png")
def field_crop(ctx: PageCtx, user: Reader, scan_id: str, page_no: int, field: str) -> Response:
    png = scans.field_crop(ctx, scan_id, page_no, field)
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})


@router.get("/scans/{scan_id}/pages/{page_no}.png")
def page_image(ctx: PageCtx, user: Reader, scan_id: str, page_no: int) -> Response:
    """The page upright, scaled for the screen (the zones are drawn over it)."""
    png = scan_review.page_image(ctx, scan_id, page_no)
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})
