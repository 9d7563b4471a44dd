"""Roles and skill groups. A BPMN lane names the role allowed to work its tasks."""

from __future__ import annotations

import re
from enum import StrEnum

ROLES = frozenset(
    {
        "agent",
        "team_lead",
        "back_office",
        "partner",
        "process_owner",
        "auditor",
        "admin",
        "system",
        "qa",
    }
)
SKILL_GROUPS = frozenset({"telemarketing", "inbound", "specialist"})
WORK_ROLES = ROLES | SKILL_GROUPS


class WorkRole(StrEnum):
    """A role or skill group that works tasks (``core.roles.WORK_ROLES``)."""

    agent = "agent"
    team_lead = "team_lead"
    back_office = "back_office"
    partner = "partner"
    process_owner = "process_owner"
    auditor = "auditor"
    admin = "admin"
    system = "system"
    qa = "qa"
    telemarketing = "telemarketing"
    inbound = "inbound"
    specialist = "specialist"


assert {r.value for r in WorkRole} == WORK_ROLES  # noqa: S101  (one list, two spellings)


def normalise_role(name: str) -> str:
    """``'Back office'`` -> ``'back_office'``; lane names are matched this way."""
    return re.sub(r"[\s\-]+", "_", name.strip()).lower()


def union_of(*roles: str | frozenset[str]) -> frozenset[str]:
    """Role names and sets of them as one set (``require_role("a", SOME_ROLES)``)."""
    allowed: frozenset[str] = frozenset()
    for role in roles:
        allowed |= {role} if isinstance(role, str) else role
    return allowed
