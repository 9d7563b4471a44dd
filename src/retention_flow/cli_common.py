"""Shared pieces of the ``retention-flow`` commands: options, context, output."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from pydantic import BaseModel

UserOpt = Annotated[str, typer.Option("--user", "-u", help="acting user name")]
RoleOpt = Annotated[list[str], typer.Option("--role", "-r", help="role(s) the user acts with")]


def _ctx() -> Any:
    from retention_flow.services.platform.bootstrap import build_context

    return build_context()


def _actor(user: str, roles: list[str]) -> Any:
    from retention_flow.services.platform.context import Actor

    return Actor(user, frozenset(roles or ["system"]))


def _plain(value: Any) -> Any:
    """What JSON cannot hold as it is: a service's view as the API answers it (its
    JSON), anything else as its text."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return str(value)


def _out(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, default=_plain, ensure_ascii=False))


def _json_arg(text: str, what: str) -> dict[str, Any]:
    """Parse an option's JSON by the one strict rule (``core.strict_json``)."""
    from .core.strict_json import JsonRefused, loads

    try:
        value = loads(text, what.lstrip("-"))
    except JsonRefused as exc:
        raise typer.BadParameter(f"{what} is not JSON: {exc.detail}") from exc
    if not isinstance(value, dict):
        raise typer.BadParameter(f"{what} must be a JSON object")
    return value
