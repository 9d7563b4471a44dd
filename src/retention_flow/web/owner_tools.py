"""The process owner's editors' helpers (JSON, CSRF-checked): the sandbox check of an
expression as it is typed, the "try it" box of the DMN editor, and the choices the
modeler's properties panel offers (forms, services, roles). Also the site's favicon."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Depends, Path
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from retention_flow.services.platform.context import Actor
from retention_flow.services.process_models import editing

from ..core.errors import InvalidProcess, ScriptError
from .session import PageCtx, page_router, require_page_role
from .templating import STATIC_DIR

router = page_router()

Owner = Annotated[Actor, Depends(require_page_role("process_owner"))]
ProcessId = Annotated[str, Path(max_length=200)]
Version = Annotated[int, Path(ge=1, le=2**31 - 1)]
FileName = Annotated[str, Path(max_length=200)]


class Expression(BaseModel):
    source: str = Field(max_length=editing.MAX_SOURCE)
    mode: Literal["eval", "exec"] = "eval"


class Trial(BaseModel):
    xml: str = Field(max_length=2_000_000)
    data: dict[str, Any] = Field(default_factory=dict, max_length=100)


@router.get("/favicon.ico")
def favicon() -> Response:
    return FileResponse(STATIC_DIR / "favicon.svg", media_type="image/svg+xml")


@router.post("/processes/{process_id}/{version}/check-expression")
def check_expression(
    _user: Owner, process_id: ProcessId, version: Version, body: Expression
) -> Any:
    """``{ok}`` or ``{ok: false, message}``: would the deploy's sandbox check accept it."""
    return editing.check_expression(body.source, body.mode).model_dump(exclude_none=True)


@router.get("/processes/{process_id}/{version}/choices")
def choices(ctx: PageCtx, _user: Owner, process_id: ProcessId, version: Version) -> Any:
    return editing.modeler_choices(ctx, process_id, version)


@router.post("/processes/{process_id}/{version}/dmn/{name}/try")
def try_table(
    ctx: PageCtx,
    _user: Owner,
    process_id: ProcessId,
    version: Version,
    name: FileName,
    body: Trial,
) -> Response:
    """Run the edited table on ``data``: the matching rules and the result, or 422 with
    the refused cells / the evaluation error."""
    try:
        answer = editing.try_table(ctx, process_id, version, name, body.xml, body.data)
    except InvalidProcess as exc:
        return JSONResponse({"errors": exc.errors, "detail": exc.detail}, 422)
    except ScriptError as exc:
        return JSONResponse({"errors": [], "detail": exc.detail}, 422)
    return JSONResponse(answer)
