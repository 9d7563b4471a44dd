"""The typed answers of the process owner's tools: what changed between two versions,
the catalogue of bundles, a bundle's check, an expression's check, the modeler's
choices."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from retention_flow.services.platform.view import View

#: ``{"added": [...], "removed": [...], "changed": [...]}``, each ``{id, type, name}``
ElementChanges = dict[str, list[dict[str, str | None]]]


class VersionRef(View):
    version: int
    deployment_id: str
    file: str


class FileChange(View):
    """One bundle file between the versions: ``added``, ``removed``, ``changed`` or
    ``same``; a changed model file's element changes, a changed DMN file's cells."""

    name: str
    status: str
    elements: ElementChanges | None = None
    cells: list[dict[str, Any]] | None = None


class VersionDiff(View):
    """``elements``: the diff of the process's own BPMN file (what the diagram marks);
    ``files``: every bundle file with its status."""

    process_id: str
    old: VersionRef
    new: VersionRef
    elements: ElementChanges
    files: list[FileChange]


class BundleAnchor(View):
    """The process version a bundle's pages open (its decision tables are under it)."""

    process_id: str
    version: int


class CatalogueBundle(View):
    """A deployed bundle that holds the latest version of some processes: its processes
    (each as ``cases.reads.process_models`` answers it, with every version) and its
    decision tables."""

    deployment_id: str
    deployed_at: datetime
    deployed_by: str
    anchor: BundleAnchor
    decisions: list[str]
    processes: list[Any]


class BundleCheck(View):
    """A bundle validated: ``errors`` each ``{file, element_id, message}`` (once each);
    the processes it deploys (none when it is invalid)."""

    valid: bool
    errors: list[dict[str, Any]]
    processes: list[str]


class BundleCheckWithWarnings(BundleCheck):
    """As ``BundleCheck``, with the lint's conventions, which do not stop a deployment."""

    warnings: list[dict[str, Any]]


class ExpressionCheck(View):
    """Would the deploy's sandbox accept the expression; ``message``: why not."""

    ok: bool
    message: str | None = None


class ServiceChoice(View):
    """A service handler: its name, its docstring's first line, the parameters it reads."""

    name: str
    doc: str
    params: list[str]


class ModelerChoices(View):
    """What the modeler's properties panel offers to pick from."""

    forms: list[str]
    services: list[ServiceChoice]
    roles: list[str]
    lane_names: list[str]
    correlation_keys: list[Any]


__all__ = [
    "BundleAnchor",
    "BundleCheck",
    "BundleCheckWithWarnings",
    "CatalogueBundle",
    "ElementChanges",
    "ExpressionCheck",
    "FileChange",
    "ModelerChoices",
    "ServiceChoice",
    "VersionDiff",
    "VersionRef",
]
