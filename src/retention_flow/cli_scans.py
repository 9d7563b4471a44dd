"""``retention-flow scan FOLDER`` and ``retention-flow forms print --case ...``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .cli_common import UserOpt, _actor, _ctx, _out
from .core.errors import RetentionFlowError

if TYPE_CHECKING:
    from retention_flow.services.scans.views import ScanView

forms_app = typer.Typer(help="printable OCR response forms", no_args_is_help=True)


def scan(
    folder: Annotated[Path, typer.Argument(exists=True, file_okay=False, help="scanned files")],
    user: UserOpt = "cli",
) -> None:
    """Read every file in FOLDER as scanned response forms; prints each file's pages."""
    from retention_flow.services.scans import intake as scans

    ctx = _ctx()
    actor = _actor(user, ["back_office"])
    results: list[dict[str, Any]] = []
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        try:
            stored = scans.ingest(ctx, actor, path.name, path.read_bytes())
        except (RetentionFlowError, OSError) as exc:  # the rest of the folder continues
            results.append({"file": path.name, "status": "failed", "error": str(exc)})
            continue
        results.append(scan_summary(path.name, stored))
    _out(results)


def scan_summary(name: str, stored: ScanView) -> dict[str, Any]:
    keys = {"page_no", "status", "reasons", "case_number", "case_id", "exception_case_id"}
    return {
        "file": name,
        "scan_id": stored.id,
        "status": stored.status,
        "error": stored.error,
        "pages": [page.model_dump(include=keys) for page in stored.pages],
    }


@forms_app.command("print")
def forms_print(
    case: Annotated[str, typer.Option("--case", help="case id or business key")],
    out: Annotated[Path | None, typer.Option("--out", help="PDF file (default: stdout)")] = None,
) -> None:
    """Render the case's printable response form (the letter's, or from its offers)."""
    import sys

    from retention_flow.services.outreach import response_forms as forms

    document, pdf = forms.case_form(_ctx(), case)
    if out is None:
        sys.stdout.buffer.write(pdf)
        return
    out.write_bytes(pdf)
    _out({"file": str(out), "bytes": len(pdf), **document})
