"""``retention-flow skills ...`` (agents' skills) and ``retention-flow routing offers``
(the record of "next task" offers). The CLI acts as an admin unless ``--user`` and
``--role`` say otherwise."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from .cli_common import RoleOpt, UserOpt, _actor, _ctx, _out

skills_app = typer.Typer(help="agents' skills (routing)", no_args_is_help=True)
routing_app = typer.Typer(help="outcome-based routing", no_args_is_help=True)


def _who(user: str, role: list[str] | None) -> Any:
    return _actor(user, role or ["admin"])


@skills_app.command("list")
def skills_list(
    username: Annotated[str | None, typer.Argument(help="one agent (default: all)")] = None,
    user: UserOpt = "cli",
    role: RoleOpt = [],  # noqa: B006  (typer reads the default)
) -> None:
    """The skills of one agent, or of everyone the acting user keeps skills of."""
    from retention_flow.services.routing import skills

    _out(skills.list_skills(_ctx(), _who(user, role), username))


@skills_app.command("set")
def skills_set(
    username: str,
    kind: Annotated[str, typer.Argument(help="product, segment, language or channel")],
    value: str,
    proficiency: Annotated[int, typer.Option(min=1, max=5, help="1 basic .. 5 expert")] = 3,
    user: UserOpt = "cli",
    role: RoleOpt = [],  # noqa: B006
) -> None:
    """Give an agent a skill or change its level (audited)."""
    from retention_flow.services.routing import skills

    _out(skills.set_skill(_ctx(), _who(user, role), username, kind, value, proficiency))


@skills_app.command("remove")
def skills_remove(
    username: str,
    kind: str,
    value: str,
    user: UserOpt = "cli",
    role: RoleOpt = [],  # noqa: B006
) -> None:
    """Take a skill away (audited)."""
    from retention_flow.services.routing import skills

    skills.remove_skill(_ctx(), _who(user, role), username, kind, value)
    _out({"removed": {"username": username, "kind": kind, "value": value}})


@routing_app.command("offers")
def routing_offers(
    username: Annotated[str | None, typer.Option(help="one agent")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    user: UserOpt = "cli",
    role: RoleOpt = [],  # noqa: B006
) -> None:
    """Recent offer decisions with their inputs and scores, and a summary per agent."""
    from retention_flow.services.routing import offer_review

    _out(offer_review.review(_ctx(), _who(user, role), username=username, limit=limit))
