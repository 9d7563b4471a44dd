"""Scanned response forms: upload (one or more files), read one scan back, see a page's
image or a field's crop, resolve an exception page (assign it to a case or discard it)."""

from __future__ import annotations

from typing import Annotated, Any

import anyio.to_thread
from fastapi import Depends, File, Path, Request, Response, UploadFile
from fastapi.concurrency import run_in_threadpool

from retention_flow.services.platform.context import Actor
from retention_flow.services.scans import exceptions as scan_exceptions
from retention_flow.services.scans import intake as scans
from retention_flow.services.scans.views import ScanView

from ..deps import CtxDep, require_role
from ..schemas import ScanPageResolve, ScanPublic, ScansPublic
from ..strict_body import api_router
from ..uploads import decode_threads, read_scan_files

router = api_router(prefix="/api/scans", tags=["scans"])

Uploader = Annotated[Actor, Depends(require_role("back_office"))]
Reader = Annotated[Actor, Depends(require_role("back_office", "auditor"))]
Files = Annotated[list[UploadFile], File(description="PNG, JPEG, TIFF or PDF scans")]
ScanId = Annotated[str, Path(max_length=36)]
PageNo = Annotated[int, Path(ge=1, le=10_000)]


@router.post("", response_model=ScansPublic)
async def upload(request: Request, ctx: CtxDep, user: Uploader, files: Files) -> dict[str, Any]:
    """Read each file and route its pages; a file uploaded before answers its stored scan.
    Every file is decoded (within the scan limits) before anything is stored: one file
    over a limit refuses the whole upload (413, each such file named), stores nothing."""
    received = await read_scan_files(files, ctx.settings.max_upload_bytes)
    limiter = decode_threads(request.app)
    read = await anyio.to_thread.run_sync(scans.read_upload, ctx, received, limiter=limiter)
    out = await run_in_threadpool(scans.store_upload, ctx, user, read)
    return {"data": out, "count": len(out)}


@router.get("/{scan_id}", response_model=ScanPublic)
def get_scan(ctx: CtxDep, _user: Reader, scan_id: ScanId) -> ScanView:
    return scans.get_scan(ctx, scan_id)


@router.get("/{scan_id}/pages/{page_no}/image", response_class=Response)
def page_image(ctx: CtxDep, _user: Reader, scan_id: ScanId, page_no: PageNo) -> Response:
    """The page as it was read (greyscale PNG)."""
    return Response(scans.page_image(ctx, scan_id, page_no), media_type="image/png")


@router.get("/{scan_id}/pages/{page_no}/fields/{field}/crop", response_class=Response)
def field_crop(
    ctx: CtxDep,
    _user: Reader,
    scan_id: ScanId,
    page_no: PageNo,
    field: Annotated[str, Path(max_length=100)],
) -> Response:
    """One read field cut out of the page (PNG): what verification shows beside the value."""
    return Response(scans.field_crop(ctx, scan_id, page_no, field), media_type="image/png")


@router.post("/{scan_id}/pages/{page_no}/resolve", response_model=ScanPublic)
def resolve(
    ctx: CtxDep, user: Uploader, scan_id: ScanId, page_no: PageNo, body: ScanPageResolve
) -> ScanView:
    """Complete an exception page's back-office task: assign it or discard it."""
    scan_exceptions.resolve(
        ctx,
        user,
        scan_id,
        page_no,
        decision=body.decision,
        case_number=body.case_number,
        reason=body.reason,
    )
    return scans.get_scan(ctx, scan_id)
