"""Deploying and reading process models. Versions are immutable; identical content
is not a new version; each deployment is parsed once per process (``SpecCache``)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from retention_flow.core.errors import InvalidProcess, NotFound, ScriptRefused
from retention_flow.db.models import Deployment, ProcessVersion
from retention_flow.db.session import read_session, write_session
from retention_flow.db.tables import DEPLOYMENT, PROCESS_VERSION
from retention_flow.engine.bundle import CompiledBundle, ProcessInfo, bundle_hash
from retention_flow.engine.compiler import compile_bundle
from retention_flow.engine.lint import LintResult
from retention_flow.engine.sandbox import compile_script
from retention_flow.services.audit.trail import NewEvent, append_system
from retention_flow.services.platform.context import Actor, AppContext
from retention_flow.services.process_models import bundles
from retention_flow.services.process_models.views import BundleCheck, BundleCheckWithWarnings


@dataclass
class DeployResult:
    deployment_id: str
    created: bool
    versions: list[ProcessVersion]


#: Refused at deploy time when a script reads them: never legitimate data names, and the
#: classic first step of an escape. (Other non-allowed builtins such as ``type`` or ``id``
#: may be data fields, so they are only refused at run time when the data lacks them.)
DEPLOY_FORBIDDEN = frozenset(
    {
        "open",
        "getattr",
        "setattr",
        "delattr",
        "eval",
        "exec",
        "compile",
        "globals",
        "locals",
        "vars",
        "breakpoint",
        "input",
        "memoryview",
        "builtins",
        "importlib",
        "os",
        "sys",
        "subprocess",
        "socket",
        "shutil",
        "pathlib",
        "io",
    }
)


def check_source(source: str, mode: str) -> None:
    """Compile a diagram's script or expression in the sandbox: refusals name the problem."""
    compiled = compile_script(source, "eval" if mode == "eval" else "exec")
    bad = sorted(set(compiled.unbound_forbidden) & DEPLOY_FORBIDDEN)
    if bad:
        raise ScriptRefused(f"name '{bad[0]}' is not allowed in scripts")


def lint(ctx: AppContext, files: Mapping[str, bytes]) -> LintResult:
    """The bundle lint (one rule set): errors refuse the bundle, warnings are conventions."""
    return bundles.lint(files, ctx.service_handlers.keys(), check_source)


def validate(ctx: AppContext, files: Mapping[str, bytes]) -> CompiledBundle:
    """Raise ``InvalidProcess`` (``errors``: file, element_id, message) or return the bundle."""
    return _accepted(lint(ctx, files))


def _accepted(result: LintResult) -> CompiledBundle:
    if result.refusal is not None:
        raise result.refusal
    assert result.bundle is not None  # noqa: S101 - no refusal means compiled
    return result.bundle


def validation_report(
    ctx: AppContext, files: Mapping[str, bytes], *, warnings: bool = False
) -> BundleCheck:
    """``{valid, errors: [{file, element_id, message}], processes}``: problems as data;
    with ``warnings``, also the lint's conventions, which do not stop a deployment."""
    result = lint(ctx, files)
    try:
        bundle = _accepted(result)
    except InvalidProcess as exc:
        report = invalid_report(exc)
    else:
        report = BundleCheck(valid=True, errors=[], processes=sorted(bundle.processes))
    if not warnings:
        return report
    found = [w.as_dict() for w in result.warnings]
    return BundleCheckWithWarnings(**report.model_dump(), warnings=found)


def invalid_report(exc: InvalidProcess) -> BundleCheck:
    """The problems once each (a decision used by several processes is reported by each)."""
    errors = exc.errors or [{"file": None, "element_id": None, "message": exc.detail}]
    unique = list({tuple(sorted(e.items())): e for e in errors}.values())
    return BundleCheck(valid=False, errors=unique, processes=[])


def deploy(ctx: AppContext, files: Mapping[str, bytes], actor: Actor) -> DeployResult:
    bundle = validate(ctx, files)
    for _attempt in range(3):
        with write_session(ctx.db) as session:
            existing = session.execute(
                select(DEPLOYMENT.c.id).where(DEPLOYMENT.c.content_hash == bundle.content_hash)
            ).scalar_one_or_none()
            if existing is not None:
                return DeployResult(existing, False, _versions_of(session, existing))
            try:
                result = _insert_deployment(ctx, session, bundle, actor)
                session.commit()
            except IntegrityError:
                session.rollback()  # someone deployed concurrently: read theirs
                continue
        ctx.specs.put(result.deployment_id, bundle)
        return result
    raise InvalidProcess("could not deploy: concurrent deployments kept conflicting")


def _insert_deployment(
    ctx: AppContext, session: Session, bundle: CompiledBundle, actor: Actor
) -> DeployResult:
    now = ctx.now()
    deployment = Deployment(
        id=str(uuid.uuid4()),
        content_hash=bundle.content_hash,
        files=bundle.files,
        manifest=bundle.manifest.model_dump(),
        deployed_by=actor.username,
        deployed_at=now,
    )
    session.add(deployment)
    session.flush()
    versions: list[ProcessVersion] = []
    for pid, info in sorted(bundle.processes.items()):
        latest = session.execute(
            select(func.max(ProcessVersion.version)).where(ProcessVersion.process_id == pid)  # type: ignore[arg-type]
        ).scalar_one_or_none()
        version = ProcessVersion(
            id=str(uuid.uuid4()),
            process_id=pid,
            version=(latest or 0) + 1,
            name=info.name,
            deployment_id=deployment.id,
            file_name=info.file_name,
            content_hash=bundle_hash({info.file_name: bundle.files.get(info.file_name, "")}),
            channel=info.channel,
            deployed_by=actor.username,
            deployed_at=now,
        )
        session.add(version)
        versions.append(version)
    session.flush()
    append_system(
        session,
        [
            NewEvent(
                type="process_deployed",
                actor=actor.username,
                detail={
                    "deployment_id": deployment.id,
                    "content_hash": bundle.content_hash,
                    "files": sorted(bundle.files),
                    "versions": {v.process_id: v.version for v in versions},
                },
            )
        ],
        now,
    )
    return DeployResult(deployment.id, True, versions)


def _versions_of(session: Session, deployment_id: str) -> list[ProcessVersion]:
    query = select(ProcessVersion).where(ProcessVersion.deployment_id == deployment_id)  # type: ignore[arg-type]
    return list(session.execute(query).scalars())


def list_versions(ctx: AppContext, process_id: str | None = None) -> list[ProcessVersion]:
    with read_session(ctx.db) as session:
        query = select(ProcessVersion).order_by(ProcessVersion.process_id, ProcessVersion.version)  # type: ignore[arg-type]
        if process_id is not None:
            query = query.where(ProcessVersion.process_id == process_id)  # type: ignore[arg-type]
        return list(session.execute(query).scalars())


_PV = PROCESS_VERSION
_LATEST = (
    select(_PV.c.version, _PV.c.deployment_id)
    .where(_PV.c.process_id == bindparam("b_pid"))
    .order_by(_PV.c.version.desc())
    .limit(1)
)
_EXACT = select(_PV.c.version, _PV.c.deployment_id).where(
    and_(_PV.c.process_id == bindparam("b_pid"), _PV.c.version == bindparam("b_version"))
)


def resolve_version(session: Session, process_id: str, version: int | None) -> tuple[int, str]:
    """(version, deployment id) of a process: the latest, or the one asked for."""
    params: dict[str, Any] = {"b_pid": process_id, "b_version": version}
    row = session.connection().execute(_LATEST if version is None else _EXACT, params).first()
    if row is None:
        what = f"process '{process_id}'" + (f" version {version}" if version is not None else "")
        raise NotFound(f"{what} is not deployed")
    return int(row[0]), str(row[1])


def get_version(session: Session, process_id: str, version: int | None = None) -> ProcessVersion:
    """A given version, or the latest when ``version`` is None."""
    query = select(ProcessVersion).where(ProcessVersion.process_id == process_id)  # type: ignore[arg-type]
    if version is None:
        query = query.order_by(ProcessVersion.version.desc()).limit(1)  # type: ignore[attr-defined]
    else:
        query = query.where(ProcessVersion.version == version)  # type: ignore[arg-type]
    found: ProcessVersion | None = session.execute(query).scalars().first()
    if found is None:
        what = f"process '{process_id}'" + (f" version {version}" if version is not None else "")
        raise NotFound(f"{what} is not deployed")
    return found


def version_xml(ctx: AppContext, process_id: str, version: int) -> str:
    with read_session(ctx.db) as session:
        pv = get_version(session, process_id, version)
        files: dict[str, Any] = session.execute(
            select(DEPLOYMENT.c.files).where(DEPLOYMENT.c.id == pv.deployment_id)
        ).scalar_one()
    return str(files[pv.file_name])


def bundle_for(ctx: AppContext, session: Session, deployment_id: str) -> CompiledBundle:
    """The compiled bundle of a deployment, parsing it on first use in this process."""
    cached = ctx.specs.get(deployment_id)
    if cached is not None:
        return cached
    row = session.get(Deployment, deployment_id)
    if row is None:
        raise NotFound(f"deployment {deployment_id} not found")
    files = {name: text.encode("utf-8") for name, text in row.files.items()}
    if row.manifest:
        import json

        files["bundle.json"] = json.dumps(row.manifest).encode()
    # Deployed content was validated at deploy time; services may have been added since.
    bundle = compile_bundle(files, check_source=None, service_names=None)
    ctx.specs.put(deployment_id, bundle)
    return bundle


def process_of(bundle: CompiledBundle, process_id: str) -> ProcessInfo:
    info = bundle.processes.get(process_id)
    if info is None:
        raise NotFound(f"process '{process_id}' is not in this deployment")
    return info
