"""The benches' synthetic history (``bench/_history.py``): the production-width history is
the lean one's cases with more written about them, so the KPI bench's figures (lean) and
the growth bench's (full) describe the same operation."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from _history import rows


def _tables(size: int, *, full: bool) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for name, batch in rows(size, per_day=100, full=full):
        out.setdefault(name, []).extend(batch)
    return out


def test_full_history_is_the_lean_one_written_out() -> None:
    lean, full = _tables(800, full=False), _tables(800, full=True)
    same = ("id", "business_key", "channel", "status", "outcome", "data", "created_at")
    assert [{k: c[k] for k in same} for c in lean["case"]] == [
        {k: c[k] for k in same} for c in full["case"]
    ]
    assert lean["case_key"] == full["case_key"]
    # every lean item is in the full history (which adds the missed outbound calls)
    full_items = {i["id"]: i for i in full["work_item"]}
    for item in lean["work_item"]:
        assert full_items[item["id"]]["state"] == item["state"]
        assert full_items[item["id"]]["handling_seconds"] == item["handling_seconds"]
    lean_types = Counter(e["type"] for e in lean["audit_event"])
    full_types = Counter(e["type"] for e in full["audit_event"])
    for type_ in ("case_started", "task_completed", "case_completed"):
        assert full_types[type_] >= lean_types[type_] > 0
    for type_ in ("task_claimed", "task_opened", "engine_steps", "timer_fired"):
        assert full_types[type_] > 0 and lean_types[type_] == 0


def test_full_history_has_production_width() -> None:
    full = _tables(1000, full=True)
    ended = {c["id"] for c in full["case"] if c["status"] == "completed"}
    per_case = Counter(e["case_id"] for e in full["audit_event"] if e["case_id"] in ended)
    assert 8.5 <= sum(per_case.values()) / len(ended) <= 12
    states = [len(c["state"]) for c in full["case"]]
    assert min(states) >= 5_000 and max(states) <= 9_000
    state = json.loads(full["case"][0]["state"])
    assert state["typename"] == "BpmnWorkflow" and len(state["tasks"]) >= 18
    # each case's chain: seq 1..n, its head on the case row
    last: dict[str, int] = {}
    for event in full["audit_event"]:
        assert event["seq"] == last.get(event["case_id"], 0) + 1
        last[event["case_id"]] = event["seq"]
    assert all(c["audit_seq"] == last[c["id"]] for c in full["case"])
