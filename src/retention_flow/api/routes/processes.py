"""Process models: list, validate, deploy, read a version's XML."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, File, Path, Response, UploadFile

from retention_flow.services.cases import reads as queries
from retention_flow.services.platform.context import Actor
from retention_flow.services.process_models import deployments as processes
from retention_flow.services.process_models.views import BundleCheck

from ...core.errors import InvalidProcess
from ..deps import CtxDep, require_role
from ..schemas import MAX_INT, DeployPublic, ProcessesPublic, ValidationResult
from ..strict_body import api_router
from ..uploads import read_bundle

router = api_router(prefix="/api/processes", tags=["processes"])

Owner = Annotated[Actor, Depends(require_role("process_owner"))]
Reader = Annotated[Actor, Depends(require_role("process_owner", "auditor"))]
Files = Annotated[list[UploadFile], File(description=".bpmn/.dmn/.json files or one .zip")]


@router.get("", response_model=ProcessesPublic)
def list_processes(ctx: CtxDep, _user: Reader) -> dict[str, Any]:
    models = queries.process_models(ctx)
    return {"data": models, "count": len(models)}


@router.post("/validate", response_model=ValidationResult)
async def validate(ctx: CtxDep, _user: Owner, files: Files) -> BundleCheck:
    """Validate a bundle; problems are answered as ``valid: false`` with their elements."""
    try:
        bundle = await read_bundle(files, ctx.settings.max_upload_bytes)
    except InvalidProcess as exc:  # an unreadable zip
        return processes.invalid_report(exc)
    return processes.validation_report(ctx, bundle)


@router.post("", response_model=DeployPublic, status_code=201)
async def deploy(ctx: CtxDep, user: Owner, files: Files, response: Response) -> dict[str, Any]:
    """Deploy a new version (identical content is not a new version: 200, not 201)."""
    result = processes.deploy(ctx, await read_bundle(files, ctx.settings.max_upload_bytes), user)
    response.status_code = 201 if result.created else 200
    return {
        "deployment_id": result.deployment_id,
        "created": result.created,
        "versions": result.versions,
    }


@router.get("/{process_id}/versions/{version}", response_class=Response)
def version_xml(
    ctx: CtxDep,
    _user: Reader,
    process_id: Annotated[str, Path(max_length=200)],
    version: Annotated[int, Path(ge=1, le=MAX_INT)],
) -> Response:
    xml = processes.version_xml(ctx, process_id, version)
    return Response(xml, media_type="application/xml")
