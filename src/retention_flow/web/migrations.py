"""Migrating running cases from the compare page: the mapping for the removed elements,
data for cases that lack what the new version reads, the dry-run table, and the
execution (reason and confirmation) followed on a progress page.

The compare page (``web/owner.py``) calls ``migration_panel`` for its "Migrate running
cases" section; a dry run is a GET of the compare page with ``dry_run=1`` and the
choices as query parameters (``map_<old id>``, ``defaults``), so it can be reloaded.
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from retention_flow.services.cases import migrations
from retention_flow.services.platform.context import Actor, AppContext
from retention_flow.services.process_models.views import VersionDiff

from ..core.errors import RetentionFlowError
from .session import PageCtx, flash, page_router, require_page_role
from .templating import render

router = page_router()

Operator = Annotated[Actor, Depends(require_page_role("process_owner", "admin"))]
ProcessId = Annotated[str, Path(max_length=200)]
MAP_PREFIX = "map_"
DRY_RUN_ROWS = 200


def _choices(params: Any) -> tuple[dict[str, str], str, dict[str, Any] | None, str | None]:
    """(mapping, defaults text, defaults, problem) from query or form parameters."""
    mapping = {
        key[len(MAP_PREFIX) :]: str(value)
        for key, value in params.items()
        if key.startswith(MAP_PREFIX) and str(value).strip()
    }
    text = str(params.get("defaults") or "").strip()
    if not text:
        return mapping, "", {}, None
    try:
        defaults = json.loads(text)
    except json.JSONDecodeError as exc:
        return mapping, text, None, f"The data for cases that lack it is not JSON: {exc.msg}."
    if not isinstance(defaults, dict):
        return mapping, text, None, "The data for cases that lack it must be a JSON object."
    return mapping, text, defaults, None


def migration_panel(
    ctx: AppContext, request: Request, user: Actor, diff: VersionDiff
) -> dict[str, Any]:
    """What the compare page's migration section shows (a dry run when asked for)."""
    params = request.query_params
    mapping, defaults_text, defaults, problem = _choices(params)
    removed = diff.elements["removed"]
    panel: dict[str, Any] = {
        "removed": removed,
        "targets": diff.elements["added"],
        "mapping": mapping,
        "defaults": defaults_text,
        "problem": problem,
        "plan": None,
    }
    if params.get("dry_run") != "1" or problem is not None or defaults is None:
        return panel
    request_ = migrations.MigrationRequest(
        process_id=diff.process_id,
        from_version=diff.old.version,
        to_version=diff.new.version,
        mapping=mapping,
        data_defaults=defaults,
    )
    try:
        panel["plan"] = migrations.dry_run(ctx, user, request_, limit=DRY_RUN_ROWS)
    except RetentionFlowError as exc:
        panel["problem"] = exc.detail
    return panel


@router.post("/processes/{process_id}/migrations")
async def start_migration(
    request: Request, ctx: PageCtx, user: Operator, process_id: ProcessId
) -> Response:
    """Execute the migration the dry run showed (a reason and the confirmation box are
    required); then its progress page."""
    form = await request.form()
    mapping, defaults_text, defaults, problem = _choices(form)
    old, new = str(form.get("old") or ""), str(form.get("new") or "")
    query = {"old": old, "new": new, "dry_run": "1", "defaults": defaults_text}
    query |= {f"{MAP_PREFIX}{k}": v for k, v in mapping.items()}
    back = RedirectResponse(
        f"/processes/{process_id}/compare?{urlencode(query)}#migrate", status_code=303
    )
    if not (old.isdigit() and new.isdigit()):
        flash(ctx, back, "Choose the two versions to migrate between.", "error")
        return back
    if problem is not None or defaults is None:
        flash(ctx, back, problem or "The data is not a JSON object.", "error")
        return back
    if form.get("confirm") != "yes":
        flash(ctx, back, "Tick the box to confirm the migration.", "error")
        return back
    request_ = migrations.MigrationRequest(
        process_id=process_id,
        from_version=int(old),
        to_version=int(new),
        mapping=mapping,
        data_defaults=defaults,
        reason=str(form.get("reason") or ""),
    )
    try:
        started = await _in_thread(lambda: migrations.start(ctx, user, request_))
    except RetentionFlowError as exc:
        flash(ctx, back, f"Not migrated: {exc.detail}", "error")
        return back
    target = f"/processes/{process_id}/migrations/{started.id}"
    response = RedirectResponse(target, status_code=303)
    flash(ctx, response, f"Migrating {started.total} cases to version {new}.", "ok")
    return response


async def _in_thread(fn: Any) -> Any:
    import anyio.to_thread

    return await anyio.to_thread.run_sync(fn)


@router.get("/processes/{process_id}/migrations/{migration_id}", response_class=HTMLResponse)
def migration_page(
    request: Request, ctx: PageCtx, user: Operator, process_id: ProcessId, migration_id: str
) -> Response:
    """Progress (refreshed every 2 s while cases are pending) and the failures' reasons."""
    progress = migrations.get_migration(ctx, migration_id)
    if progress.process_id != process_id:
        from ..core.errors import NotFound

        raise NotFound(f"migration {migration_id} not found")
    return render(ctx, request, "migration.html", {"m": progress}, user=user)
