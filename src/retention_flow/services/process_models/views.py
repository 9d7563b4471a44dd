"""The typed answers of the process owner's tools: what changed between two versions."""

from __future__ import annotations

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


__all__ = ["ElementChanges", "FileChange", "VersionDiff", "VersionRef"]
