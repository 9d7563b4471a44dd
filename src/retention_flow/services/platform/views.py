"""The typed answers of the platform's operator tools: what ``retention-flow doctor``
found in the stored rows and whether it repaired each."""

from __future__ import annotations

from typing import Any

from retention_flow.services.platform.view import View


class FindingView(View):
    """One stored value of the wrong shape: its row (``key``: the primary key's columns),
    column, what is wrong with it, and whether it was repaired (audit rows never are)."""

    table: str
    key: dict[str, Any]
    column: str
    problems: list[dict[str, str]]
    repaired: bool


class DoctorReport(View):
    """A doctor run: how many values were found and repaired (none in a dry run)."""

    dry_run: bool
    found: int
    repaired: int
    findings: list[FindingView]


__all__ = ["DoctorReport", "FindingView"]
