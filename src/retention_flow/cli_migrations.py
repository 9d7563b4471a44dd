"""``retention-flow migrations dry-run|start|show`` and ``retention-flow move``: moving
running cases to another version of their process, or their tokens within it."""

from __future__ import annotations

from typing import Annotated

import typer

from .cli_common import UserOpt, _actor, _ctx, _json_arg, _out

migrations_app = typer.Typer(
    help="migrate running cases to another process version", no_args_is_help=True
)

MappingOpt = Annotated[
    list[str], typer.Option("--map", "-m", help="OLD=NEW element mapping (repeatable)")
]
CaseOpt = Annotated[list[str], typer.Option("--case", help="only this case (repeatable)")]
ElementOpt = Annotated[
    list[str], typer.Option("--element", help="only cases waiting here (repeatable)")
]
DefaultsOpt = Annotated[
    str, typer.Option("--defaults", help="JSON object: data for cases that lack these keys")
]


def _mapping(pairs: list[str]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for pair in pairs:
        old, sep, new = pair.partition("=")
        if not sep or not old or not new:
            raise typer.BadParameter(f"--map '{pair}' is not OLD=NEW")
        mapping[old] = new
    return mapping


def _request(
    process_id: str,
    from_version: int,
    to_version: int,
    mapping: list[str],
    cases: list[str],
    elements: list[str],
    defaults: str,
    reason: str,
) -> object:
    from retention_flow.services.cases.migrations import MigrationRequest

    return MigrationRequest(
        process_id=process_id,
        from_version=from_version,
        to_version=to_version,
        case_ids=cases or None,
        elements=elements or None,
        mapping=_mapping(mapping),
        data_defaults=_json_arg(defaults, "--defaults"),
        reason=reason,
    )


@migrations_app.command("dry-run")
def dry_run(
    process_id: str,
    from_version: int,
    to_version: int,
    mapping: MappingOpt = [],  # noqa: B006
    case: CaseOpt = [],  # noqa: B006
    element: ElementOpt = [],  # noqa: B006
    defaults: DefaultsOpt = "{}",
    user: UserOpt = "cli",
) -> None:
    """Per case: can it migrate, or why not. Changes nothing."""
    from retention_flow.services.cases import migrations

    request = _request(process_id, from_version, to_version, mapping, case, element, defaults, "")
    _out(migrations.dry_run(_ctx(), _actor(user, ["process_owner"]), request))  # type: ignore[arg-type]


@migrations_app.command("start")
def start(
    process_id: str,
    from_version: int,
    to_version: int,
    reason: Annotated[str, typer.Option(help="why (kept in every case's audit trail)")],
    mapping: MappingOpt = [],  # noqa: B006
    case: CaseOpt = [],  # noqa: B006
    element: ElementOpt = [],  # noqa: B006
    defaults: DefaultsOpt = "{}",
    user: UserOpt = "cli",
) -> None:
    """Queue the migration; `retention-flow worker` migrates the cases in batches."""
    from retention_flow.services.cases import migrations

    request = _request(
        process_id, from_version, to_version, mapping, case, element, defaults, reason
    )
    _out(migrations.start(_ctx(), _actor(user, ["process_owner"]), request))  # type: ignore[arg-type]


@migrations_app.command("show")
def show(migration_id: str) -> None:
    """Progress: total, done, failed (with reasons), pending."""
    from retention_flow.services.cases import migrations

    _out(migrations.get_migration(_ctx(), migration_id))


def move(
    case_id: str,
    reason: Annotated[str, typer.Option(help="why (kept in the case's audit trail)")],
    cancel: Annotated[list[str], typer.Option(help="cancel the token here (repeatable)")] = [],  # noqa: B006
    activate: Annotated[list[str], typer.Option(help="start a token here (repeatable)")] = [],  # noqa: B006
    user: UserOpt = "cli",
) -> None:
    """Cancel a case's tokens at some elements and start tokens at others."""
    from retention_flow.services.cases import move as case_move

    _out(
        case_move.move_case(
            _ctx(), _actor(user, ["process_owner"]), case_id, cancel, activate, reason
        )
    )
