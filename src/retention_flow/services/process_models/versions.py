"""Editing and comparing deployed versions, for the process owner's modeler.

A deployment is a bundle (BPMN + DMN + form schemas + ``bundle.json``). Editing one
file of a version means deploying that version's whole bundle again with the one file
replaced; the result is a new version of every process in the bundle, and running cases
stay on the version they started on. Comparing two versions of a process lists the
files that differ between their bundles and, per BPMN/DMN file, the element ids added,
removed and changed (``engine.diff``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from retention_flow.core.errors import NotFound, ValidationFailed
from retention_flow.db.models import Deployment
from retention_flow.db.session import read_session
from retention_flow.engine.bundle import MANIFEST_NAME, CompiledBundle
from retention_flow.engine.diff import element_diff
from retention_flow.engine.dmn_diff import cell_changes
from retention_flow.services.cases.reads import process_models
from retention_flow.services.platform.context import Actor, AppContext
from retention_flow.services.process_models import deployments as processes
from retention_flow.services.process_models.views import (
    BundleAnchor,
    BundleCheck,
    CatalogueBundle,
    FileChange,
    VersionDiff,
    VersionRef,
)

MODEL_SUFFIXES = (".bpmn", ".dmn")


@dataclass
class VersionFiles:
    """The bundle a process version was deployed in."""

    process_id: str
    version: int
    deployment_id: str
    file_name: str  # the BPMN file of this process
    files: dict[str, str]  # every bundle file, bundle.json included


def version_files(ctx: AppContext, process_id: str, version: int) -> VersionFiles:
    with read_session(ctx.db) as session:
        pv = processes.get_version(session, process_id, version)
        row = session.get(Deployment, pv.deployment_id)
        if row is None:  # a version always has its deployment (foreign key)
            raise NotFound(f"deployment {pv.deployment_id} not found")
        files = dict(row.files)
        if row.manifest:
            files[MANIFEST_NAME] = json.dumps(row.manifest, indent=2, sort_keys=True)
        return VersionFiles(process_id, pv.version, row.id, pv.file_name, files)


def bundle_file(ctx: AppContext, process_id: str, version: int, name: str) -> str:
    """One file of the bundle a version was deployed in (e.g. its DMN tables)."""
    files = version_files(ctx, process_id, version).files
    if name not in files:
        raise NotFound(f"'{name}' is not in the bundle of {process_id} version {version}")
    return files[name]


def _replaced(base: VersionFiles, replacements: Mapping[str, str]) -> dict[str, bytes] | None:
    """The bundle with the files replaced, or None when nothing differs."""
    unknown = sorted(set(replacements) - set(base.files))
    if unknown:
        raise ValidationFailed(
            f"'{unknown[0]}' is not a file of this bundle",
            errors=[{"field": name, "message": "not a file of this bundle"} for name in unknown],
        )
    if all(base.files[name] == text for name, text in replacements.items()):
        return None
    merged = {**base.files, **replacements}
    return {name: text.encode("utf-8") for name, text in merged.items()}


def _edited(
    ctx: AppContext, process_id: str, version: int, replacements: Mapping[str, str]
) -> dict[str, bytes]:
    base = version_files(ctx, process_id, version)
    files = _replaced(base, replacements)
    if files is None:
        files = {name: text.encode("utf-8") for name, text in base.files.items()}
    return files


def validate_edit(
    ctx: AppContext, process_id: str, version: int, replacements: Mapping[str, str]
) -> CompiledBundle:
    """Validate the version's bundle with files replaced; ``InvalidProcess`` lists the
    problems with their file and element id."""
    return processes.validate(ctx, _edited(ctx, process_id, version, replacements))


def check_edit(
    ctx: AppContext,
    process_id: str,
    version: int,
    replacements: Mapping[str, str],
    *,
    warnings: bool = False,
) -> BundleCheck:
    """As ``validate_edit``, answered as ``processes.validation_report`` data (with
    ``warnings``: the lint's conventions too, which the modeler lists)."""
    edited = _edited(ctx, process_id, version, replacements)
    return processes.validation_report(ctx, edited, warnings=warnings)


def deploy_edit(
    ctx: AppContext,
    actor: Actor,
    process_id: str,
    version: int,
    replacements: Mapping[str, str],
) -> processes.DeployResult:
    """Deploy the version's bundle with files replaced as a new version. Unchanged
    files answer the existing deployment (``created`` false), as deploying identical
    content does."""
    base = version_files(ctx, process_id, version)
    files = _replaced(base, replacements)
    if files is None:
        with read_session(ctx.db) as session:
            versions = processes._versions_of(session, base.deployment_id)
        return processes.DeployResult(base.deployment_id, False, versions)
    return processes.deploy(ctx, files, actor)


def catalogue(ctx: AppContext) -> list[CatalogueBundle]:
    """The process models grouped by the bundle their latest version is in: per bundle
    its deployment, its processes (each with every version) and its decision tables."""
    bundles: dict[str, dict[str, Any]] = {}
    for model in process_models(ctx):
        latest = model["versions"][-1]
        entry = bundles.get(latest.deployment_id)
        if entry is None:
            files = version_files(ctx, model["process_id"], latest.version).files
            entry = bundles[latest.deployment_id] = {
                "deployment_id": latest.deployment_id,
                "deployed_at": latest.deployed_at,
                "deployed_by": latest.deployed_by,
                "anchor": BundleAnchor(process_id=model["process_id"], version=latest.version),
                "decisions": sorted(n for n in files if n.lower().endswith(".dmn")),
                "processes": [],
            }
        entry["processes"].append(model)
    shown = [CatalogueBundle(**b) for b in bundles.values()]
    return sorted(shown, key=lambda b: b.deployed_at, reverse=True)


def compare(ctx: AppContext, process_id: str, old: int, new: int) -> VersionDiff:
    """What changed from version ``old`` to version ``new`` of a process.

    ``elements``: the diff of the process's own BPMN file (what the diagram marks);
    ``files``: every bundle file with its status (added / removed / changed / same) and,
    for a changed BPMN or DMN file, its element diff.
    """
    a = version_files(ctx, process_id, old)
    b = version_files(ctx, process_id, new)
    files = [
        _file_change(name, a.files, b.files) for name in sorted(a.files.keys() | b.files.keys())
    ]
    if a.file_name == b.file_name:
        own = element_diff(b.file_name, a.files[a.file_name], b.files[b.file_name]).as_dict()
    else:  # the process moved to another file: everything in the new one is new
        own = element_diff(b.file_name, _EMPTY_MODEL, b.files[b.file_name]).as_dict()
    return VersionDiff(
        process_id=process_id,
        old=VersionRef(version=a.version, deployment_id=a.deployment_id, file=a.file_name),
        new=VersionRef(version=b.version, deployment_id=b.deployment_id, file=b.file_name),
        elements=own,
        files=files,
    )


def _file_change(name: str, old: dict[str, str], new: dict[str, str]) -> FileChange:
    if name not in old:
        return FileChange(name=name, status="added")
    if name not in new:
        return FileChange(name=name, status="removed")
    if old[name] == new[name]:
        return FileChange(name=name, status="same")
    suffix = Path(name).suffix.lower()
    return FileChange(
        name=name,
        status="changed",
        elements=element_diff(name, old[name], new[name]).as_dict()
        if suffix in MODEL_SUFFIXES
        else None,
        cells=cell_changes(name, old[name], new[name]) if suffix == ".dmn" else None,
    )


_EMPTY_MODEL = "<definitions/>"
