"""Test factories: actors, bundles from tests/data, deployed processes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from retention_flow.engine.bundle import load_bundle_path
from retention_flow.services.platform.context import Actor, AppContext
from retention_flow.services.process_models import deployments as processes

DATA = Path(__file__).parent / "data"

BOOKINGS: list[dict[str, Any]] = []


def book_contract_change(data: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """Test double of the booking service: records the call, answers like the real one."""
    BOOKINGS.append(dict(params))
    return {"status": "booked", "operation": "book_contract_change", **params}


SERVICE_HANDLERS = {"book_contract_change": book_contract_change}


def actor(name: str = "alice", *roles: str, partner: str | None = None) -> Actor:
    return Actor(name, frozenset(roles or ("agent", "telemarketing")), partner)


OWNER = Actor("olga", frozenset({"process_owner"}))
LEAD = Actor("lena", frozenset({"team_lead", "agent"}))
SYSTEM = Actor.system()


def bundle_files(name: str) -> dict[str, bytes]:
    return load_bundle_path(DATA / name)


def deploy(ctx: AppContext, name: str) -> processes.DeployResult:
    return processes.deploy(ctx, bundle_files(name), OWNER)
