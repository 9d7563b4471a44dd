"""What the process owner's editors ask while editing, before any deploy: is this
expression accepted by the sandbox (checked as the owner types), and what does this
decision table decide on these inputs ("try it"). Both run the same checks and engine as
a deploy and a running case; neither stores anything."""

from __future__ import annotations

import inspect
import json
import re
from typing import Any, Literal

from retention_flow.core.errors import ScriptError, ValidationFailed
from retention_flow.core.roles import WORK_ROLES
from retention_flow.engine.bundle import MANIFEST_NAME
from retention_flow.engine.dmn_try import try_decision
from retention_flow.services.platform.context import AppContext
from retention_flow.services.process_models import deployments as processes
from retention_flow.services.process_models import versions
from retention_flow.services.process_models.views import (
    ExpressionCheck,
    ModelerChoices,
    ServiceChoice,
)

#: a typed expression longer than this is refused before compiling it
MAX_SOURCE = 20_000


def check_expression(source: str, mode: Literal["eval", "exec"]) -> ExpressionCheck:
    """``ok``, or not ``ok`` with a ``message``: the deploy-time sandbox check."""
    if len(source) > MAX_SOURCE:
        return ExpressionCheck(ok=False, message=f"longer than {MAX_SOURCE} characters")
    try:
        processes.check_source(source, mode)
    except ScriptError as exc:
        return ExpressionCheck(ok=False, message=exc.detail)
    return ExpressionCheck(ok=True)


def try_table(
    ctx: AppContext, process_id: str, version: int, name: str, xml: str, data: dict[str, Any]
) -> dict[str, Any]:
    """Run the edited table ``xml`` (a DMN file of that version's bundle) on ``data``."""
    if name not in versions.version_files(ctx, process_id, version).files:
        raise ValidationFailed(f"'{name}' is not a file of {process_id} version {version}")
    return try_decision(name, xml, data, processes.check_source)


def modeler_choices(ctx: AppContext, process_id: str, version: int) -> ModelerChoices:
    """What the modeler's properties panel offers to pick from: the bundle's form
    schemas, the service handlers (with the parameters they read) and the roles."""
    found = versions.version_files(ctx, process_id, version)
    forms = sorted(n for n in found.files if n.lower().endswith(".schema.json"))
    return ModelerChoices(
        forms=forms,
        services=[
            ServiceChoice(name=name, doc=_first_line(fn), params=_params_read(fn))
            for name, fn in sorted(ctx.service_handlers.items())
        ],
        roles=sorted(WORK_ROLES - {"system"}),
        lane_names=sorted(_lane_names(found.files.get(MANIFEST_NAME))),
        correlation_keys=_manifest(found.files.get(MANIFEST_NAME)).get("correlation_keys") or [],
    )


def _manifest(text: str | None) -> dict[str, Any]:
    try:
        found = json.loads(text or "{}")
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _lane_names(manifest: str | None) -> list[str]:
    """Lane names the bundle's manifest maps to a role (``bundle.json`` "roles")."""
    roles = _manifest(manifest).get("roles") or {}
    return [str(name) for name in roles] if isinstance(roles, dict) else []


def _first_line(fn: Any) -> str:
    return (inspect.getdoc(fn) or "").split("\n", 1)[0]


_PARAM = re.compile(r"""(?:_required\(params,|params\.get\(|params\[)\s*["']([A-Za-z_]\w*)["']""")


def _params_read(fn: Any) -> list[str]:
    """The parameter names a handler reads from ``params`` (from its source)."""
    try:
        source = inspect.getsource(fn)
    except (OSError, TypeError):
        return []
    return sorted(set(_PARAM.findall(source)))
