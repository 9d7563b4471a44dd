"""Rendering pages: one Jinja2 environment over ``ui/templates`` (autoescape always on),
the role-based navigation, and ``render`` which every page uses.

``render`` adds what ``base.html`` needs: the user, the navigation for their roles, the
CSRF token (and its cookie), the one-time flash message, the current path.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel

from retention_flow.services.outreach import response_forms
from retention_flow.services.platform.context import Actor, AppContext
from retention_flow.services.scans import reasons as scan_reasons

from ..core.roles import SKILL_GROUPS
from .session import FLASH_COOKIE, csrf_token, read_flash

#: the shipped templates and static files (repository root / ui), like ocr_templates/
UI_DIR = Path(__file__).resolve().parents[3] / "ui"
TEMPLATES_DIR = UI_DIR / "templates"
STATIC_DIR = UI_DIR / "static"

AGENT_ROLES = frozenset({"agent"} | SKILL_GROUPS)


@dataclass(frozen=True)
class NavItem:
    label: str
    path: str
    roles: frozenset[str]
    key: str = ""  # keyboard shortcut (Alt+key in most browsers: accesskey)


#: The navigation, in order. A page module adds its entry here; the home page ("/")
#: sends a user to the first entry their roles allow.
NAV: list[NavItem] = [
    NavItem("My queue", "/queue", AGENT_ROLES | {"back_office"}, "q"),
    NavItem("Team", "/team", frozenset({"team_lead", "admin"}), "t"),
    NavItem("Skills", "/skills", frozenset({"team_lead", "admin"}), "g"),
    NavItem("Leads", "/partner", frozenset({"partner"}), "l"),
    NavItem("Scanning", "/scans", frozenset({"back_office"}), "s"),
    NavItem("Processes", "/processes", frozenset({"process_owner"}), "p"),
    NavItem("Operations", "/operations", frozenset({"process_owner", "admin"}), "o"),
    NavItem("Cases", "/audit", frozenset({"auditor"}), "c"),
    NavItem("Settlements", "/settlements", frozenset({"auditor", "admin"}), "m"),
    NavItem("KPIs", "/kpis", frozenset({"team_lead", "auditor", "process_owner"}), "k"),
    NavItem("Reviews", "/qa", frozenset({"qa", "team_lead", "auditor", "admin"}), "r"),
    NavItem("Payouts", "/payouts", frozenset({"team_lead", "back_office", "admin"}), "u"),
    NavItem("My results", "/me", AGENT_ROLES, "y"),
    NavItem("Heatmap", "/heatmap", frozenset({"team_lead", "auditor", "process_owner"}), "h"),
    NavItem("What-if", "/whatif", frozenset({"team_lead", "process_owner"}), "w"),
]


def nav_for(user: Actor | None) -> list[NavItem]:
    if user is None:
        return []
    return [item for item in NAV if item.roles & user.roles]


def _when(value: str | datetime | None) -> str:
    """A UTC time as 'YYYY-MM-DD HH:MM' (the pages show UTC, labelled)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.isoformat()
    return value.replace("T", " ")[:16]


def _plain_json(value: Any) -> str:
    """A value as JSON for people to read: quotes and accents as they are (``tojson``
    writes ``\\u0027`` for a quote, for scripts); autoescaping still applies."""
    return json.dumps(value, ensure_ascii=False, default=str)


def _value(value: Any) -> str:
    """A read or stored value for people: lists joined, booleans as Yes / No."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, list | tuple):
        return ", ".join(_value(v) for v in value) or "—"
    return str(value)


def _field(value: Any) -> Any:
    """A read field for the field filters: a page zone (a view) as its fields."""
    return value.model_dump() if isinstance(value, BaseModel) else value


def _view_json(value: Any) -> Any:
    """``tojson`` of a service's typed view: its JSON object."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.policies["json.dumps_kwargs"] = {"sort_keys": True, "default": _view_json}
    env.filters["when"] = _when
    env.filters["value"] = _value
    env.filters["plain_json"] = _plain_json
    # scanned pages: reasons and field names as a clerk reads them (services/scan_reasons)
    env.filters["scan_reason"] = scan_reasons.plain
    env.filters["field_label"] = scan_reasons.field_label
    env.filters["field_note"] = lambda f: scan_reasons.field_note(_field(f))
    env.filters["field_value"] = lambda f: _value(scan_reasons.field_value(_field(f)))
    env.filters["offer_title"] = lambda code: response_forms.offer_title(str(code))
    env.filters["form_title"] = response_forms.form_title
    return env


templates = Jinja2Templates(env=_environment())


def render(
    ctx: AppContext,
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    user: Actor | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """Render ``ui/templates/<name>`` for ``user`` (None on the login and error pages)."""
    values: dict[str, Any] = {
        "user": user,
        "nav": nav_for(user),
        "path": request.url.path,
        "flash": read_flash(ctx, request),
        "csrf_token": csrf_token(ctx, request),
    }
    values.update(context or {})
    response = templates.TemplateResponse(
        request, name, values, status_code=status_code, headers=headers
    )
    csrf_token(ctx, request, response)  # sets the nonce cookie on a first visit
    if values["flash"] is not None:
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response
