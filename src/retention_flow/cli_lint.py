"""``retention-flow lint BUNDLE...``: the bundle lint (validation errors and modelling
conventions) over bundle folders, .zip files or folders of bundle folders."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .cli_common import _ctx, _out


def lint(
    paths: Annotated[list[Path], typer.Argument(exists=True, help="bundles")],
    errors_only: Annotated[
        bool, typer.Option("--errors-only", help="only what stops a deployment")
    ] = False,
) -> None:
    """Lint bundles: one JSON report per bundle ({bundle, errors, warnings}, each problem
    {file, element_id, message}); exit status 1 when any bundle has a problem."""
    from retention_flow.services.process_models import deployments as processes
    from retention_flow.services.process_models.bundles import bundle_folders, load_path

    ctx = _ctx()
    failed = False
    for folder in bundle_folders(paths):
        result = processes.lint(ctx, load_path(folder))
        warnings = [] if errors_only else [w.as_dict() for w in result.warnings]
        errors = [e.as_dict() for e in result.errors]
        failed = failed or bool(errors or warnings)
        _out({"bundle": str(folder), "errors": errors, "warnings": warnings})
    if failed:
        raise typer.Exit(1)
