"""``retention-flow`` command line: database, deployment, cases, tasks, audit, serve."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from .cli_audit import audit_app, verify_audit
from .cli_common import RoleOpt, UserOpt, _actor, _ctx, _json_arg, _out
from .cli_deploy import backup, restore, up
from .cli_heatmap import heatmap_app
from .cli_lint import lint
from .cli_migrations import migrations_app, move
from .cli_ops import case_app, incidents_app
from .cli_partners import partners_app, settlement_app
from .cli_routing import routing_app, skills_app
from .cli_scans import forms_app, scan
from .core.errors import RetentionFlowError

app = typer.Typer(
    help="retention-flow: BPMN retention cases on SpiffWorkflow", no_args_is_help=True
)
db_app = typer.Typer(help="database schema", no_args_is_help=True)
app.add_typer(db_app, name="db")
users_app = typer.Typer(help="users, roles and passwords", no_args_is_help=True)
app.add_typer(users_app, name="users")

app.add_typer(partners_app, name="partners")
app.add_typer(settlement_app, name="settlement")
app.add_typer(forms_app, name="forms")
app.add_typer(audit_app, name="audit")
app.command("verify-audit")(verify_audit)
app.add_typer(incidents_app, name="incidents")
app.add_typer(skills_app, name="skills")
app.add_typer(routing_app, name="routing")
app.add_typer(case_app, name="case")
app.add_typer(heatmap_app, name="heatmap")
app.command()(scan)
app.add_typer(migrations_app, name="migrations")
app.command()(move)
app.command()(lint)
app.command()(up)
app.command()(backup)
app.command()(restore)


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply schema migrations."""
    from .core.config import get_settings
    from .db.migrate import current_revision, upgrade
    from .db.session import create_db_engine

    engine = create_db_engine(get_settings().database_url)
    upgrade(engine, revision)
    typer.echo(f"database at revision {current_revision(engine)}")


@app.command()
def deploy(
    path: Path,
    user: UserOpt = "cli",
) -> None:
    """Deploy a bundle (folder, .zip or .bpmn). A folder of bundle folders deploys each."""
    from retention_flow.services.process_models import deployments as processes
    from retention_flow.services.process_models.bundles import load_path as load_bundle_path

    ctx = _ctx()
    actor = _actor(user, ["process_owner"])
    targets = [path]
    if path.is_dir() and not any(p.suffix in (".bpmn",) for p in path.iterdir()):
        targets = sorted(p for p in path.iterdir() if p.is_dir())
    for target in targets:
        result = processes.deploy(ctx, load_bundle_path(target), actor)
        _out(
            {
                "bundle": str(target),
                "deployment_id": result.deployment_id,
                "new": result.created,
                "versions": {v.process_id: v.version for v in result.versions},
            }
        )


@app.command()
def validate(path: Path) -> None:
    """Validate a bundle without deploying it."""
    from retention_flow.services.process_models import deployments as processes
    from retention_flow.services.process_models.bundles import load_path as load_bundle_path

    bundle = processes.validate(_ctx(), load_bundle_path(path))
    _out({"valid": True, "processes": sorted(bundle.processes)})


@app.command()
def start(
    process_id: str,
    data: Annotated[str, typer.Option(help="case data as a JSON object")] = "{}",
    business_key: Annotated[str | None, typer.Option()] = None,
    idempotency_key: Annotated[str | None, typer.Option()] = None,
    user: UserOpt = "cli",
    role: RoleOpt = [],  # noqa: B006
) -> None:
    """Start a case (once per --user and --idempotency-key, like the API)."""
    from retention_flow.services.cases import keyed_starts as case_requests

    answer = case_requests.start_case_once(
        _ctx(),
        _actor(user, role or ["agent"]),
        process_id,
        _json_arg(data, "--data"),
        key=idempotency_key,
        business_key=business_key,
    )
    _out(answer.body)


@app.command()
def case(case_id: str) -> None:
    """Show a case."""
    from retention_flow.services.cases import lifecycle as cases

    _out(cases.get_case(_ctx(), case_id))


@app.command()
def tasks(
    role: RoleOpt = [],  # noqa: B006
    user: UserOpt = "cli",
    mine: Annotated[bool, typer.Option(help="tasks claimed by --user")] = False,
    limit: int = 50,
) -> None:
    """List a queue: ready tasks of the roles, or the user's claimed tasks."""
    from retention_flow.services.tasks import work_items as task_service

    _out(
        task_service.list_queue(
            _ctx(), _actor(user, role), queue="mine" if mine else "available", limit=limit
        )
    )


@app.command()
def claim(task_id: str, user: UserOpt, role: RoleOpt) -> None:
    """Claim a task."""
    from retention_flow.services.tasks import work_items as task_service

    _out(task_service.claim(_ctx(), _actor(user, role), task_id))


@app.command()
def unclaim(task_id: str, user: UserOpt, role: RoleOpt = []) -> None:  # noqa: B006
    """Give a claimed task back to the queue."""
    from retention_flow.services.tasks import work_items as task_service

    _out(task_service.unclaim(_ctx(), _actor(user, role), task_id))


@app.command()
def complete(
    task_id: str,
    user: UserOpt,
    role: RoleOpt,
    data: Annotated[str, typer.Option(help="form data as a JSON object")] = "{}",
) -> None:
    """Complete a task with form data."""
    from retention_flow.services.tasks import work_items as task_service

    _out(task_service.complete(_ctx(), _actor(user, role), task_id, _json_arg(data, "--data")))


@app.command()
def history(case_id: str) -> None:
    """A case's audit events."""
    from retention_flow.services.audit import trail as audit

    from .db.session import read_session

    ctx = _ctx()
    with read_session(ctx.db) as session:
        _out([e.model_dump() for e in audit.history(session, case_id)])


UserRolesOpt = Annotated[list[str], typer.Option("--role", "-r", help="role (repeat for several)")]
PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="read the password from standard input")
]


def _password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    if not password:
        raise typer.BadParameter("an empty password")
    return password


@users_app.command("add")
def users_add(
    name: str,
    role: UserRolesOpt,
    partner: Annotated[str | None, typer.Option(help="partner organisation")] = None,
    team: Annotated[str | None, typer.Option(help="team (for KPIs by team)")] = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Add a user with roles (and a partner organisation for partner users)."""
    from retention_flow.services.people import users

    _out(users.add_user(_ctx(), name, _password(password_stdin), role, partner, team))


@users_app.command("team")
def users_team(name: str, team: Annotated[str, typer.Argument(help="team; '' for none")]) -> None:
    """Put a user in a team."""
    from retention_flow.services.people import users

    _out(users.set_team(_ctx(), name, team))


@users_app.command("passwd")
def users_passwd(name: str, password_stdin: PasswordStdin = False) -> None:
    """Set a new password (ends the user's sessions, clears a lock)."""
    from retention_flow.services.people import users

    _out(users.set_password(_ctx(), name, _password(password_stdin)))


@users_app.command("roles")
def users_roles(
    name: str,
    role: UserRolesOpt,
    partner: Annotated[str | None, typer.Option(help="partner organisation")] = None,
) -> None:
    """Replace the user's roles (ends the user's sessions)."""
    from retention_flow.services.people import users

    _out(users.set_roles(_ctx(), name, role, partner))


@users_app.command("disable")
def users_disable(name: str) -> None:
    """Disable a user: logins fail and issued tokens stop working."""
    from retention_flow.services.people import users

    _out(users.disable(_ctx(), name))


@users_app.command("enable")
def users_enable(name: str) -> None:
    """Enable a disabled user again."""
    from retention_flow.services.people import users

    _out(users.enable(_ctx(), name))


@app.command()
def demo(
    customers: Annotated[int, typer.Option(help="synthetic customers")] = 10_000,
    cases_total: Annotated[int, typer.Option("--cases", help="cases across the channels")] = 400,
) -> None:
    """Seed demo data: users for every role, customers, cases in all channels (idempotent)."""
    from retention_flow.services.platform import demo as demo_service

    ctx = _ctx()
    result = demo_service.seed(
        ctx,
        processes_dir=Path(ctx.settings.processes_dir),
        customers=customers,
        cases_total=cases_total,
        password=ctx.settings.demo_password,
    )
    _out(
        {
            "deployed": result.deployed,
            "customers_created": result.customers_created,
            "cases_started": result.cases_started,
            "tasks_completed": result.tasks_completed,
            "users_created": sorted(result.users_created),
        }
    )
    if result.users_created:
        typer.echo("demo users (shown once; set RETENTION_FLOW_DEMO_PASSWORD to choose):", err=True)
        for name, secret in sorted(result.users_created.items()):
            typer.echo(f"  {name:<16} {secret}", err=True)


@app.command()
def worker(
    once: Annotated[bool, typer.Option(help="one pass, then exit")] = False,
    celery: Annotated[
        bool, typer.Option(help="serve scanned pages from the Celery broker")
    ] = False,
    concurrency: Annotated[int, typer.Option(help="Celery worker processes/threads")] = 1,
    pool: Annotated[str, typer.Option(help="Celery pool: prefork, threads, solo")] = "prefork",
) -> None:
    """Fire due timers, run queued jobs and watch the scan inbox (several workers may run
    at once); with --celery, read scanned pages sent to the Celery broker instead."""
    import logging

    from retention_flow.services.platform import worker as worker_service
    from retention_flow.services.scans.inbox import Inbox
    from retention_flow.services.scans.ocr_jobs import ocr_worker_env

    ocr_worker_env()  # before the OCR engine loads
    if celery:
        from .celery_worker import run

        run(concurrency=concurrency, pool=pool)
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    ctx = _ctx()
    if once:
        from retention_flow.services.platform.leases import heartbeat

        name = worker_service.worker_name()
        with heartbeat(ctx, name) as leases:
            fired = worker_service.fire_timers_once(ctx, name, leases=leases)
            handlers = worker_service.default_job_handlers()
            ran = worker_service.run_jobs_once(ctx, name, handlers, leases=leases)
        inbox = Inbox.from_settings(ctx)  # a file is taken on its second sight, once settled
        _out({"timers_fired": fired, "jobs_run": ran, "inbox": inbox.poll() if inbox else []})
        return
    import threading

    from retention_flow.services.platform.background import run_resilient

    # a failed pass (the database restarting) starts the loop again, it does not exit
    run_resilient(ctx, ctx.settings.worker_poll_seconds, threading.Event())


@app.command()
def doctor(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="list, change nothing")] = False,
) -> None:
    """Find stored values that are not interoperable JSON or of the wrong shape (NaN,
    infinities, lone surrogates, huge integers, ``products: null``...) and repair each
    with an audit event; audit rows are listed, never rewritten."""
    from retention_flow.services.platform import doctor as doctor_service

    _out(doctor_service.run(_ctx(), dry_run=dry_run))


@app.command()
def serve(
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
    worker: Annotated[
        bool,
        typer.Option(
            "--worker/--no-worker",
            help="also fire timers and run jobs in this process "
            "(default: RETENTION_FLOW_SERVE_WORKER, true)",
            show_default=False,
        ),
    ] = True,
    reuse_port: Annotated[
        bool, typer.Option(help="share the port with other serving processes (SO_REUSEPORT)")
    ] = False,
) -> None:
    """Run the HTTP API and pages (uvicorn), with the worker in a background thread."""
    import uvicorn

    from .api.app import create_app
    from .core.config import get_settings

    settings = get_settings()
    app_ = create_app(worker=worker and settings.serve_worker)
    host, port = host or settings.host, port or settings.port
    if not reuse_port:
        uvicorn.run(app_, host=host, port=port)
        return
    from .supervisor import reuse_port_socket

    server = uvicorn.Server(uvicorn.Config(app_, host=host, port=port))
    server.run(sockets=[reuse_port_socket(host, port)])


# --------------------------------------------------------------------------- partners


def main() -> None:
    try:
        app()
    except RetentionFlowError as exc:
        payload: dict[str, Any] = {"error": exc.code, "detail": exc.detail}
        if exc.errors:
            payload["errors"] = exc.errors
        typer.echo(json.dumps(payload, indent=2, default=str), err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
