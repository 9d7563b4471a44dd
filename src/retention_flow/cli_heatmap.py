"""``retention-flow heatmap``: the heatmap's rollup (services/insight/heatmap_rollup.py)."""

from __future__ import annotations

from typing import Annotated

import typer

from .cli_common import _ctx, _out

heatmap_app = typer.Typer(help="the heatmap's rollup: rebuild, catch up", no_args_is_help=True)


@heatmap_app.command("rebuild")
def rebuild() -> None:
    """Count the whole audit trail into the rollup again (idempotent; one transaction).
    Run it after a restore or once after upgrading a large database."""
    from retention_flow.services.insight import heatmap_rollup

    _out(heatmap_rollup.rebuild(_ctx()))


@heatmap_app.command("catch-up")
def catch_up(
    batch: Annotated[int, typer.Option(help="audit events per transaction")] = 50_000,
) -> None:
    """Roll up the audit events after the watermark (what the worker does every
    ``heatmap_rollup_seconds``)."""
    from retention_flow.services.insight import heatmap_rollup

    _out({"events": heatmap_rollup.catch_up(_ctx(), batch)})
