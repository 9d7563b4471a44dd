"""Scanned response forms: upload (one or more files), read one scan back, see a page's
image or a field's crop, resolve an exception page (assign it to a case or discard it)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, File, Path, Response, UploadFile

from ...core.errors import PayloadTooLarge
from ...services import scan_exceptions, scans
from ...services.context import Actor
from ..deps import CtxDep, require_role
from ..schemas import ScanPageResolve, ScanPublic, ScansPublic
from ..strict_body import api_router

router = api_router(prefix="/api/scans", tags=["scans"])

Uploader = Annotated[Actor, Depends(require_role("back_office"))]
Reader = Annotated[Actor, Depends(require_role("back_office", "auditor"))]
Files = Annotated[list[UploadFile], File(description="PNG, JPEG, TIFF or PDF scans")]
ScanId = Annotated[str, Path(max_length=36)]
PageNo = Annotated[int, Path(ge=1, le=10_000)]


@router.post("", response_model=ScansPublic)
def upload(ctx: CtxDep, user: Uploader, files: Files) -> dict[str, Any]:
    """Read each file and route its pages; a file uploaded before answers its stored scan."""
    limit = ctx.settings.max_upload_bytes
    out = []
    for upload_file in files:
        data = upload_file.file.read(limit + 1)
        if len(data) > limit:
            raise PayloadTooLarge(f"'{upload_file.filename}' is larger than {limit} bytes")
        out.append(scans.ingest(ctx, user, upload_file.filename or "", data))
    return {"data": out, "count": len(out)}


@router.get("/{scan_id}", response_model=ScanPublic)
def get_scan(ctx: CtxDep, _user: Reader, scan_id: ScanId) -> dict[str, Any]:
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
) -> dict[str, Any]:
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
