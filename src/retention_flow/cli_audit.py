"""``retention-flow verify-audit`` and ``retention-flow audit ...``: the sealed trail."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from .cli_common import UserOpt, _ctx, _out

audit_app = typer.Typer(
    help="audit seals, checkpoints and their keys (see the README's audit section)",
    no_args_is_help=True,
)
keys_app = typer.Typer(help="the audit seal and checkpoint signing keys", no_args_is_help=True)
audit_app.add_typer(keys_app, name="keys")


def verify_audit(
    checkpoints: Annotated[
        Path | None,
        typer.Option(
            help="a checkpoint file to compare with (default: the configured "
            "RETENTION_FLOW_AUDIT_CHECKPOINT_FILE when it exists)"
        ),
    ] = None,
    no_checkpoints: Annotated[
        bool, typer.Option("--no-checkpoints", help="check links and seals only")
    ] = False,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume/--from-start",
            help="continue an interrupted run after the last stream it verified (the "
            "default when its progress file is there), or verify every stream again",
        ),
    ] = True,
    state_file: Annotated[
        Path | None,
        typer.Option(
            help="where the position of a run is kept (default: audit-verify-progress.json "
            "beside the checkpoint file)"
        ),
    ] = None,
    progress: Annotated[
        bool, typer.Option(help="show progress on standard error (a bar on a terminal)")
    ] = True,
) -> None:
    """Check every audit chain: links, hashes, seals, heads and the signed checkpoints;
    exit 1 when anything is wrong (the first finding, then up to 100 more). Streams the
    trail; an interrupted run continues where it stopped unless --from-start."""
    from retention_flow.services.audit import verify_run as audit_verify_run

    from .cli_progress import ProgressLine

    ctx = _ctx()
    line = ProgressLine("verify-audit") if progress else None
    try:
        result = audit_verify_run.verify_all(
            ctx,
            checkpoints,
            use_checkpoints=not no_checkpoints,
            state_file=state_file or audit_verify_run.default_state_file(ctx),
            resume=resume,
            on_progress=line,
        )
    finally:
        if line is not None:
            line.finish()
    _out(result)
    if not result["ok"]:
        raise typer.Exit(1)


@audit_app.command("checkpoint")
def checkpoint(
    full: Annotated[bool, typer.Option(help="list every head, not only those that moved")] = False,
) -> None:
    """Append a signed checkpoint of every stream's head to the checkpoint file."""
    from retention_flow.services.audit.checkpoint import write_checkpoint

    _out(write_checkpoint(_ctx(), full=full))


@audit_app.command("export-checkpoints")
def export_checkpoints(
    out: Annotated[Path | None, typer.Option(help="write here instead of standard output")] = None,
) -> None:
    """The checkpoint file's lines as written, for an auditor's own copy."""
    from retention_flow.services.audit import admin as audit_admin

    lines = audit_admin.checkpoint_lines(_ctx())
    if out is None:
        for line in lines:
            sys.stdout.buffer.write(line)
        sys.stdout.flush()
        return
    with open(out, "wb") as handle:
        for line in lines:
            handle.write(line)


@audit_app.command("seal-existing")
def seal_existing(user: UserOpt = "cli") -> None:
    """Once after upgrading a database written before sealing: seal the heads that have no
    seal yet, if their chains verify (against the checkpoints too)."""
    from retention_flow.services.audit import admin as audit_admin

    _out(audit_admin.seal_existing(_ctx(), user))


@keys_app.command("init")
def keys_init() -> None:
    """Create the key file (0600) unless it exists: for production, before the first start."""
    from retention_flow.services.audit import admin as audit_admin

    from .core.clock import SystemClock
    from .core.config import get_settings

    _out(audit_admin.init_keys(get_settings(), SystemClock().now()))


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Add a new seal key and signing key and make them active; old ones stay to verify."""
    from retention_flow.services.audit import admin as audit_admin

    _out(audit_admin.rotate_keys(_ctx()))


@keys_app.command("public")
def keys_public() -> None:
    """The key ids, and the signing keys' public halves (to check checkpoints elsewhere)."""
    from retention_flow.services.audit import admin as audit_admin

    _out(audit_admin.public_keys(_ctx()))
