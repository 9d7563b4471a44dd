"""``retention-flow partners ...`` and ``retention-flow settlement ...`` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

from retention_flow.services.platform.context import AppContext
from tests.integration.test_cli import _cli
from tests.partners.conftest import partner_case


def test_partners_add_list_allocate(pctx: AppContext, db_url: str, tmp_path: Path) -> None:
    added = _cli(
        db_url,
        "partners", "add", "p_west",
        "--name", "West Calls", "--capacity", "2", "--cost", "500", "--commission", "2000",
        "--regions", "west", "--quality", "0.3",
    )  # fmt: skip
    assert added["created"] and added["regions"] == ["west"]
    changed = _cli(db_url, "partners", "add", "p_west", "--capacity", "1")
    assert changed["capacity_per_period"] == 1 and not changed["created"]
    [listed] = _cli(db_url, "partners", "list")
    assert listed["id"] == "p_west" and listed["remaining_capacity"] == 1
    leads = tmp_path / "leads.json"
    leads.write_text(
        json.dumps(
            [
                {"lead_id": f"L{i}", "product": "mobile_m", "region": "west",
                 "contract_age_months": 12, "value_cents": 40_000}
                for i in range(2)
            ]
        )
    )  # fmt: skip
    run = _cli(db_url, "partners", "allocate", str(leads))
    assert run["solver"] == "highs_milp" and len(run["assignments"]) == 1
    assert "capacity" in next(iter(run["unassigned"].values()))


def test_settlement_run_approve_export(seeded: AppContext, db_url: str) -> None:
    case = partner_case(seeded, 1)
    run = _cli(db_url, "settlement", "run", "--period", "2026-01", "--user", "fin")
    [statement] = run["statements"]
    own = _cli(db_url, "settlement", "approve", statement["id"], "--user", "fin", check=False)
    assert own.returncode == 2 and "four eyes: fin ran statement" in own.stderr
    approved = _cli(db_url, "settlement", "approve", statement["id"], "--user", "fin2")
    assert approved["status"] == "approved" and approved["hash_ok"] is True
    proc = _cli(db_url, "settlement", "export", statement["id"], check=False)
    assert proc.returncode == 0, proc.stderr
    header, row = proc.stdout.splitlines()
    assert header.startswith("statement_id,partner_id,period")
    assert case.id in row and ",3500," in row
    again = _cli(db_url, "settlement", "approve", statement["id"], check=False)
    assert again.returncode == 2 and "already approved" in again.stderr
