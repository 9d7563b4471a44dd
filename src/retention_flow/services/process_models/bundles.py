"""Bundle files as the faces receive them (a folder, a .zip, one .bpmn), read for
deploying, validating and linting (the faces come here, not to engine/), and the lint
of a bundle with what this product knows: its service operators and their parameters,
the sandbox's script check, and the forms read by name (the QA checklist)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from retention_flow.core.config import get_settings
from retention_flow.engine import bundle as _bundle
from retention_flow.engine.bundle import SourceCheck
from retention_flow.engine.lint import LintResult, lint_bundle
from retention_flow.services.steps.operators import SERVICE_SPECS


def load_path(path: Path) -> dict[str, bytes]:
    """A folder's bundle files (not recursive), a .zip, or one .bpmn file."""
    return _bundle.load_bundle_path(path)


def load_zip(content: bytes, max_total: int) -> dict[str, bytes]:
    """A zip bundle read defensively (bounded member count and sizes)."""
    return _bundle.load_zip(content, max_total=max_total)


def lint(
    files: Mapping[str, bytes], operators: Iterable[str], check_source: SourceCheck
) -> LintResult:
    """Validation errors and convention warnings of a bundle (``operators``: the service
    operators registered and ``check_source`` the script check, as deploying uses them)."""
    return lint_bundle(
        files,
        check_source=check_source,
        services={name: SERVICE_SPECS.get(name) for name in operators},
        forms_used_elsewhere=[get_settings().qa_form],
    )


def bundle_folders(paths: Iterable[Path]) -> list[Path]:
    """Each path, or for a folder of bundle folders (no .bpmn of its own), each of them."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir() and not any(p.suffix == ".bpmn" for p in path.iterdir()):
            out += sorted(p for p in path.iterdir() if p.is_dir() and any(p.glob("*.bpmn")))
        else:
            out.append(path)
    return out
