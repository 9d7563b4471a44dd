"""Bundle files as the faces receive them (a folder, a .zip, one .bpmn), read for
deploying, validating and linting: the faces come here, not to engine/."""

from __future__ import annotations

from pathlib import Path

from ..engine import bundle as _bundle


def load_path(path: Path) -> dict[str, bytes]:
    """A folder's bundle files (not recursive), a .zip, or one .bpmn file."""
    return _bundle.load_bundle_path(path)


def load_zip(content: bytes, max_total: int) -> dict[str, bytes]:
    """A zip bundle read defensively (bounded member count and sizes)."""
    return _bundle.load_zip(content, max_total=max_total)
