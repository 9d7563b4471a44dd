"""``retention-flow partners ...`` and ``retention-flow settlement ...``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from .cli_common import UserOpt, _actor, _ctx, _out

partners_app = typer.Typer(help="sales partners and lead allocation", no_args_is_help=True)
settlement_app = typer.Typer(help="partner settlement statements", no_args_is_help=True)


def _csv_list(value: str | None) -> list[str] | None:
    return None if value is None else [v.strip() for v in value.split(",") if v.strip()]


@partners_app.command("list")
def partners_list() -> None:
    """Partners with their capacity used and left this month."""
    from retention_flow.services.partners import organisations as partners

    data, _count = partners.list_partners(_ctx(), limit=500)
    _out(data)


@partners_app.command("add")
def partners_add(
    partner_id: str,
    name: Annotated[str | None, typer.Option()] = None,
    capacity: Annotated[int | None, typer.Option(help="leads per month")] = None,
    cost: Annotated[int | None, typer.Option(help="cost per lead, cents")] = None,
    commission: Annotated[int | None, typer.Option(help="per retained customer, cents")] = None,
    products: Annotated[str | None, typer.Option(help="comma separated; empty = any")] = None,
    regions: Annotated[str | None, typer.Option(help="comma separated; empty = any")] = None,
    min_age: Annotated[int | None, typer.Option(help="minimum contract age, months")] = None,
    max_age: Annotated[int | None, typer.Option(help="maximum contract age, months")] = None,
    quality: Annotated[float | None, typer.Option(help="expected retention share 0..1")] = None,
    min_share: Annotated[float | None, typer.Option(help="minimum batch share 0..1")] = None,
    user: UserOpt = "cli",
) -> None:
    """Add a partner, or change the options given of an existing one."""
    from retention_flow.services.partners import organisations as partners

    given = {
        "name": name,
        "capacity_per_period": capacity,
        "cost_per_lead_cents": cost,
        "commission_cents": commission,
        "products": _csv_list(products),
        "regions": _csv_list(regions),
        "min_contract_age_months": min_age,
        "max_contract_age_months": max_age,
        "quality": quality,
        "min_share": min_share,
    }
    values = {k: v for k, v in given.items() if v is not None}
    _out(partners.save_partner(_ctx(), _actor(user, ["admin"]), partner_id, values))


@partners_app.command("allocate")
def partners_allocate(
    leads_file: Annotated[Path, typer.Argument(help="JSON list of leads ('-': stdin)")],
    method: Annotated[str, typer.Option(help="milp or greedy")] = "milp",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="record nothing")] = False,
    user: UserOpt = "cli",
) -> None:
    """Allocate leads to partners (the run is audited with its inputs)."""
    from retention_flow.services.partners import allocation_runs as partner_allocation

    text = sys.stdin.read() if str(leads_file) == "-" else leads_file.read_text()
    from .core.strict_json import JsonRefused, loads

    try:
        leads = loads(text, "leads")
    except JsonRefused as exc:
        raise typer.BadParameter(f"the leads file is not interoperable JSON: {exc.detail}") from exc
    if not isinstance(leads, list):
        raise typer.BadParameter("the leads file must hold a JSON list")
    actor = _actor(user, ["back_office"])
    _out(partner_allocation.allocate_leads(_ctx(), actor, leads, method=method, dry_run=dry_run))


@partners_app.command("refresh-quality")
def partners_refresh_quality(user: UserOpt = "cli") -> None:
    """Learn each partner's quality from its ended leads (audited)."""
    from retention_flow.services.partners import organisations as partners

    _out(partners.refresh_quality(_ctx(), _actor(user, ["admin"])))


@settlement_app.command("run")
def settlement_run(
    period: Annotated[str, typer.Option(help="YYYY-MM")],
    partner: Annotated[str | None, typer.Option(help="one partner only")] = None,
    user: UserOpt = "cli",
) -> None:
    """Put the month's validated, unpaid commission lines on draft statements."""
    from retention_flow.services.partners import settlement

    _out(settlement.run_settlement(_ctx(), _actor(user, ["back_office"]), period, partner))


@settlement_app.command("approve")
def settlement_approve(statement_id: str, user: UserOpt = "cli") -> None:
    """Freeze a statement; its hash goes into the audit trail."""
    from retention_flow.services.partners import settlement

    _out(settlement.approve_statement(_ctx(), _actor(user, ["back_office"]), statement_id))


@settlement_app.command("export")
def settlement_export(
    statement_id: str,
    out: Annotated[Path | None, typer.Option(help="file to write (default: stdout)")] = None,
) -> None:
    """A statement as CSV for finance."""
    from retention_flow.services.partners import settlement_export

    text = settlement_export.export_csv(_ctx(), statement_id)
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text)
