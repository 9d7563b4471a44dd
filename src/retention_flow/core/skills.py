"""Skills: what a task needs and what an agent has.

A task's need is written as a list (the user task's ``requiredSkills`` property), e.g.
``"product, language?, segment:vip_at_risk>=3"``. Each item is a skill kind (``product``,
``segment``, ``language``, ``channel``), optionally ``:value`` (else the value comes from
the case: its ``product`` / ``language`` data, its segment, its channel), optionally
``>=N`` (the least proficiency, 1-5; default 1). A trailing ``?`` makes an item apply only
when the case names a value (a case without ``language`` needs no language skill).

When a task becomes ready its need is resolved against its case into
``[{"kind", "value", "min"}]`` and kept on the work item; an agent may take the task only
if they hold every listed skill at the least proficiency (``missing`` says what is not).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SKILL_KINDS = ("product", "segment", "language", "channel")
MAX_PROFICIENCY = 5
_ITEM = re.compile(
    r"^(?P<kind>[a-z_]+)(?::(?P<value>[A-Za-z0-9_.\-]+))?(?P<opt>\?)?(?:>=(?P<min>[1-5]))?$"
)
#: where a kind's value comes from when the item does not name one (case data key)
_FROM_CASE = {"product": "product", "language": "language"}

#: what an agent holds: (kind, value) -> proficiency
Held = Mapping[tuple[str, str], int]


@dataclass(frozen=True)
class SkillNeed:
    kind: str
    value: str | None = None
    minimum: int = 1
    optional: bool = False


def parse_need(text: str) -> list[SkillNeed]:
    """The items of a ``requiredSkills`` property; ``ValueError`` names a bad one."""
    needs = []
    for raw in text.split(","):
        item = raw.replace(" ", "")
        if not item:
            continue
        found = _ITEM.match(item)
        if found is None or found["kind"] not in SKILL_KINDS:
            raise ValueError(
                f"{raw.strip()!r} is not a skill: write kind[:value][?][>=1-5] with a kind "
                f"of {', '.join(SKILL_KINDS)}"
            )
        needs.append(
            SkillNeed(
                found["kind"], found["value"], int(found["min"] or 1), found["opt"] is not None
            )
        )
    return needs


def resolve(
    needs: list[SkillNeed], data: Mapping[str, Any], segment: str | None, channel: str | None
) -> list[dict[str, Any]]:
    """The need of one task on one case: ``[{kind, value, min}]`` (items whose value the
    case does not give are left out when optional, and kept as ``"?"`` otherwise, which
    no agent holds: a task that cannot be matched shows it rather than being open to all)."""
    out: list[dict[str, Any]] = []
    for need in needs:
        value = need.value
        if value is None:
            if need.kind == "segment":
                value = segment
            elif need.kind == "channel":
                value = channel
            else:
                raw = data.get(_FROM_CASE[need.kind])
                value = str(raw) if raw not in (None, "") else None
        if value is None:
            if need.optional:
                continue
            value = "?"
        out.append({"kind": need.kind, "value": value, "min": need.minimum})
    return out


def work_item_routing(
    meta: Any, data: Mapping[str, Any], segment: str | None, channel: str | None
) -> dict[str, Any]:
    """A new work item's routing columns: its case's segment and its resolved need
    (``meta``: the task's ``UserTaskMeta``, or None)."""
    needs = list(getattr(meta, "required_skills", None) or ())
    required = resolve(needs, data, segment, channel) if needs else None
    return {"segment": segment, "required_skills": required}


def label(skill: Mapping[str, Any]) -> str:
    level = f" (level {skill['min']})" if int(skill.get("min") or 1) > 1 else ""
    return f"{skill['kind']} {skill['value']}{level}"


def missing(required: list[dict[str, Any]] | None, held: Held) -> list[str]:
    """The required skills the agent lacks, as plain labels (empty: may take it)."""
    lacking = []
    for skill in required or []:
        have = held.get((skill["kind"], skill["value"]), 0)
        if have < int(skill.get("min") or 1):
            lacking.append(label(skill) + (f", you have level {have}" if have else ""))
    return lacking


def why_not(required: list[dict[str, Any]] | None, held: Held) -> str | None:
    """One plain sentence on why the task is not offered to this agent, or None."""
    lacking = missing(required, held)
    if not lacking:
        return None
    return "needs the skill " + "; ".join(lacking)
