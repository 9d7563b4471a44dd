"""The process owner's pages: the process models and their versions, the BPMN modeler
and the DMN editor (validate, deploy as a new version), and the compare of two versions.

Editing a file deploys the whole bundle of the version it was opened from with that one
file replaced (``services.versions``); running cases stay on their version. The editors
post JSON (``{"files": {name: text}}``) with the CSRF header and get JSON back.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from retention_flow.services.platform.context import Actor, AppContext
from retention_flow.services.process_models import deployments as processes
from retention_flow.services.process_models import versions

from ..core.errors import InvalidProcess, NotFound
from .migrations import migration_panel
from .session import PageCtx, page_router, require_page_role
from .templating import render

router = page_router()

Owner = Annotated[Actor, Depends(require_page_role("process_owner"))]
ProcessId = Annotated[str, Path(max_length=200)]
Version = Annotated[int, Path(ge=1, le=2**31 - 1)]
FileName = Annotated[str, Path(max_length=200)]


class Edit(BaseModel):
    files: dict[str, str] = Field(max_length=20, description="bundle file name -> new content")


def _base(process_id: str, version: int) -> str:
    return f"/processes/{process_id}/{version}"


def _editor(ctx: AppContext, found: versions.VersionFiles, name: str) -> dict[str, Any]:
    base = _base(found.process_id, found.version)
    return {
        "found": found,
        "file": name,
        "xml_url": f"{base}/files/{name}",
        "validate_url": f"{base}/validate",
        "deploy_url": f"{base}/deploy",
        "check_url": f"{base}/check-expression",
        "choices_url": f"{base}/choices",
        "file_base": f"{base}/files/",
        "try_url": f"{base}/dmn/{name}/try" if name.lower().endswith(".dmn") else None,
        "decisions": sorted(n for n in found.files if n.lower().endswith(".dmn")),
        "known": [v.version for v in processes.list_versions(ctx, found.process_id)],
    }


@router.get("/processes", response_class=HTMLResponse)
def process_list(request: Request, ctx: PageCtx, user: Owner) -> Response:
    return render(ctx, request, "processes.html", {"bundles": versions.catalogue(ctx)}, user=user)


@router.get("/processes/{process_id}/compare", response_class=HTMLResponse)
def compare_page(
    request: Request,
    ctx: PageCtx,
    user: Owner,
    process_id: ProcessId,
    old: Annotated[int, Query(ge=1, le=2**31 - 1)] = 1,
    new: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    show: Literal["new", "old"] = "new",
) -> Response:
    """The diagram of the new version with added and changed elements marked, or
    (``show=old``) of the old one with the removed elements marked."""
    known = [v.version for v in processes.list_versions(ctx, process_id)]
    diff = versions.compare(ctx, process_id, old, new or (known[-1] if known else old))
    side = diff.old if show == "old" else diff.new
    elements = diff.elements
    marks = {"removed": elements["removed"]} if show == "old" else elements
    context = {
        "diff": diff,
        "known": known,
        "show": show,
        "marks": marks,
        "xml_url": f"{_base(process_id, side.version)}/files/{side.file}",
        "migration": migration_panel(ctx, request, user, diff),
    }
    return render(ctx, request, "process_compare.html", context, user=user)


@router.get("/processes/{process_id}/{version}", response_class=HTMLResponse)
def modeler_page(
    request: Request, ctx: PageCtx, user: Owner, process_id: ProcessId, version: Version
) -> Response:
    found = versions.version_files(ctx, process_id, version)
    context = _editor(ctx, found, found.file_name)
    return render(ctx, request, "process_modeler.html", context, user=user)


@router.get("/processes/{process_id}/{version}/dmn/{name}", response_class=HTMLResponse)
def dmn_page(
    request: Request,
    ctx: PageCtx,
    user: Owner,
    process_id: ProcessId,
    version: Version,
    name: FileName,
) -> Response:
    if not name.lower().endswith(".dmn"):
        raise NotFound(f"'{name}' is not a decision table")
    found = versions.version_files(ctx, process_id, version)
    if name not in found.files:
        raise NotFound(f"'{name}' is not in this bundle")
    return render(ctx, request, "process_dmn.html", _editor(ctx, found, name), user=user)


@router.get("/processes/{process_id}/{version}/files/{name}")
def bundle_file(
    ctx: PageCtx, _user: Owner, process_id: ProcessId, version: Version, name: FileName
) -> Response:
    text = versions.bundle_file(ctx, process_id, version, name)
    media = "application/json" if name.endswith(".json") else "application/xml"
    return Response(text, media_type=media, headers={"Cache-Control": "no-store"})


@router.post("/processes/{process_id}/{version}/validate")
def validate(
    ctx: PageCtx, _user: Owner, process_id: ProcessId, version: Version, body: Edit
) -> Any:
    """``{valid, errors: [{file, element_id, message}], warnings}`` for the bundle as
    edited (``warnings``: the lint's conventions, which do not stop a deployment)."""
    return versions.check_edit(ctx, process_id, version, body.files, warnings=True)


@router.post("/processes/{process_id}/{version}/deploy")
def deploy(
    ctx: PageCtx, user: Owner, process_id: ProcessId, version: Version, body: Edit
) -> Response:
    """Deploy the edited bundle: 201 with the new versions, 200 when nothing changed,
    422 with the problems (each with its element) when it does not validate."""
    try:
        result = versions.deploy_edit(ctx, user, process_id, version, body.files)
    except InvalidProcess as exc:
        report = processes.invalid_report(exc).model_dump()
        return JSONResponse(report | {"detail": exc.detail}, 422)
    mine = next((v for v in result.versions if v.process_id == process_id), None)
    others = len(result.versions) - (1 if mine else 0)
    if not result.created:
        message = "Nothing changed: this is already deployed"
        message += f" as version {mine.version}." if mine else "."
    else:
        message = f"Deployed as version {mine.version} of {process_id}" if mine else "Deployed"
        message += f" (and {others} other processes of the bundle)." if others else "."
    answer = {
        "created": result.created,
        "deployment_id": result.deployment_id,
        "versions": [{"process_id": v.process_id, "version": v.version} for v in result.versions],
        "message": message,
        "url": _base(process_id, mine.version) if mine and result.created else None,
    }
    return JSONResponse(answer, 201 if result.created else 200)
