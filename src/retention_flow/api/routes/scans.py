"""Scanned response forms: upload (one or more files), read one scan back."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Path, UploadFile

from ...core.errors import PayloadTooLarge
from ...services import scans
from ...services.context import Actor
from ..deps import CtxDep, require_role
from ..schemas import ScanPublic, ScansPublic

router = APIRouter(prefix="/api/scans", tags=["scans"])

Uploader = Annotated[Actor, Depends(require_role("back_office"))]
Reader = Annotated[Actor, Depends(require_role("back_office", "auditor"))]
Files = Annotated[list[UploadFile], File(description="PNG, JPEG, TIFF or PDF scans")]


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
def get_scan(
    ctx: CtxDep, _user: Reader, scan_id: Annotated[str, Path(max_length=36)]
) -> dict[str, Any]:
    return scans.get_scan(ctx, scan_id)
