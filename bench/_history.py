"""A synthetic retention history for the database benches (``bench/kpis.py``,
``bench/growth.py``): cases arriving at a steady rate up to "now", their work items,
customer keys and audit events, as (table name, rows) batches.

Two widths, the same cases (the same random draws, in the same order):

- the lean history (``full=False``, the KPI bench): the events the dashboard reads (case
  started, task ready and completed, case ended) and a placeholder engine state;
- the full history (``full=True``, the growth bench): what the product writes per case in
  production, so a million-case database has the size, row count and page layout a
  million real cases leave behind. Per human task: ready, claimed, opened, completed
  (with the data before and after) and the engine steps that follow; per case: started
  plus its first engine steps, outbound cases with 1 to 3 call attempts (weights 5:3:2;
  a missed call waits on a retry timer, audited as fired), and a serialized engine state
  of the shape and size SpiffWorkflow's serializer writes (about 20 task records with
  their own ids, 6 to 7 KB of JSON). The extra draws come from a second generator, so
  the lean rows do not change.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from retention_flow.services.audit.chain import GENESIS, chain_hash
from retention_flow.services.audit.seal import EVENT, HEAD, KeySet

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
AGENTS = [f"agent{n:02d}" for n in range(50)]
OFFERS = ("DISCOUNT_10", "DISCOUNT_20", "UPGRADE_DATA", "NEW_DEVICE", "LOYALTY_BONUS")
DEPLOYMENT_ID = "bench-retention"
BATCH = 20_000
#: task specs of the serialized state: a retention diagram's elements
SPECS = (
    "Root",
    "StartEvent_case",
    "Gateway_channel",
    "Task_score",
    "Task_pick_offer",
    "Task_call",
    "Timer_retry",
    "Gateway_reached",
    "Task_record_outcome",
    "Task_send_letter",
    "Gateway_outcome",
    "Task_book_offer",
    "EndEvent_retained",
    "EndEvent_lost",
)


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def engine_state(rng: random.Random, data: dict[str, Any], tasks: int) -> str:
    """A serialized workflow of SpiffWorkflow's shape (``BpmnWorkflowSerializer``: a task
    tree of records with ids, parent, children, spec, state, timestamps and data)."""
    ids = [_uuid(rng) for _ in range(tasks)]
    records: dict[str, Any] = {}
    for i, task_id in enumerate(ids):
        records[task_id] = {
            "id": task_id,
            "parent": ids[i - 1] if i else None,
            "children": [ids[i + 1]] if i + 1 < tasks else [],
            "last_state_change": 1.7e9 + rng.random() * 1e7,
            "state": rng.choice((4, 8, 16, 32, 64, 128)),
            "task_spec": SPECS[i % len(SPECS)],
            "triggered": False,
            "internal_data": {"event_fired": rng.random() < 0.1} if i % 4 == 0 else {},
            "data": dict(data) if i % 3 == 0 else {},
            "typename": "Task",
        }
    return json.dumps(
        {
            "serializer_version": "1.4",
            "spec": {"name": "retention", "file": "retention.bpmn", "typename": "BpmnProcessSpec"},
            "subprocess_specs": {},
            "subprocesses": {},
            "bpmn_events": [],
            "correlations": {},
            "data": {},
            "success": True,
            "completed": False,
            "root": ids[0],
            "last_task": ids[-1],
            "tasks": records,
            "typename": "BpmnWorkflow",
        },
        separators=(",", ":"),
    )


class _Events:
    """The audit events of one batch, chained and (with keys) sealed per case."""

    def __init__(self, keys: KeySet | None) -> None:
        self.keys = keys
        self.rows: list[dict[str, Any]] = []
        self.seq = 0

    def start(self) -> None:
        self.seq = 0

    def add(self, case_id: str, type_: str, at: datetime, **kw: Any) -> None:
        self.seq += 1
        row: dict[str, Any] = {
            "stream": case_id,
            "seq": self.seq,
            "case_id": case_id,
            "type": type_,
            "actor": kw.pop("actor", "engine"),
            "at": at,
            "element_id": kw.pop("element_id", None),
            "task_id": kw.pop("task_id", None),
            "data_before": kw.pop("data_before", None),
            "data_after": kw.pop("data_after", None),
            "detail": kw.pop("detail", None),
            "prev_hash": GENESIS if self.seq == 1 or self.keys is None else self.rows[-1]["hash"],
            "hash": f"{len(self.rows):064x}",
        }
        if self.keys is not None:
            row["hash"] = chain_hash(row["prev_hash"], row)
            row["seal_key"], row["seal"] = self.keys.seal(EVENT, case_id, self.seq, row["hash"])
        self.rows.append(row)


def _item(
    task_id: str,
    case_id: str,
    data: dict[str, Any],
    channel: str,
    element: str,
    role: str,
    at: datetime,
) -> dict[str, Any]:
    """A work item as it is created (ready); the caller records how it was worked."""
    return {
        "id": task_id,
        "case_id": case_id,
        "business_key": data["case_number"],
        "process_id": channel,
        "element_id": element,
        "name": element.replace("_", " ").title(),
        "role": role,
        "state": "ready",
        "claimed_by": None,
        "claimed_at": None,
        "due_at": at + timedelta(hours=4),
        "priority": 50,
        "form": None,
        "partner": None,
        "created_at": at,
        "ended_at": None,
        "ended_by": None,
        "work_started_at": None,
        "work_started_by": None,
        "first_worked_at": None,
        "handling_seconds": None,
    }


def _worked(
    ev: _Events,
    extra: random.Random,
    item: dict[str, Any],
    agent: str,
    at: datetime,
    done: datetime,
) -> None:
    """A worked task's claim and opening (the caller writes its completion and the engine
    steps after); the item records who claimed it and started work when."""
    case_id, element, task_id = item["case_id"], item["element_id"], item["id"]
    claimed = at + (done - at) / 3
    item.update(claimed_by=agent, claimed_at=claimed, work_started_by=agent)
    item["work_started_at"] = claimed + timedelta(seconds=extra.randint(1, 30))
    ev.add(case_id, "task_claimed", claimed, actor=agent, element_id=element, task_id=task_id)
    ev.add(
        case_id,
        "task_opened",
        item["work_started_at"],
        actor=agent,
        element_id=element,
        task_id=task_id,
    )


def _missed_calls(
    ev: _Events, extra: random.Random, data: dict[str, Any], case_id: str, at: datetime
) -> tuple[list[dict[str, Any]], datetime]:
    """Outbound call attempts before the last: a telemarketing item each, worked and
    completed unreached, then the retry timer. Returns the items and when the next starts."""
    items = []
    for attempt in range(extra.choices((0, 1, 2), (5, 3, 2))[0]):
        item = _item(_uuid(extra), case_id, data, "outbound", "Task_call", "telemarketing", at)
        agent = extra.choice(AGENTS)
        done = at + timedelta(seconds=extra.randint(60, 3600))
        ev.add(case_id, "task_ready", at, element_id="Task_call", task_id=item["id"])
        _worked(ev, extra, item, agent, at, done)
        answer = {"reached": False, "attempt": attempt + 1}
        ev.add(
            case_id,
            "task_completed",
            done,
            actor=agent,
            element_id="Task_call",
            task_id=item["id"],
            data_before={"reached": None},
            data_after=answer,
        )
        item.update(state="completed", ended_at=done, ended_by=agent)
        item["first_worked_at"] = item["work_started_at"]
        item["handling_seconds"] = float(extra.randint(20, 300))
        ev.add(case_id, "engine_steps", done, detail={"elements": ["Gateway_reached"]})
        at = done + timedelta(hours=extra.choice((2, 4, 24)))
        ev.add(case_id, "timer_fired", at, actor="clock", element_id="Timer_retry")
        items.append(item)
    return items, at


def rows(
    size: int, per_day: int, seed: int = 7, keys: KeySet | None = None, *, full: bool = False
) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """(table name, rows) batches of the history; newest cases last. With ``keys`` the
    events are chained and sealed as the product writes them (``audit.build_rows``: the
    hash of each over the previous one, an HMAC seal on each, and the case row's sealed
    head), so ``verify-audit`` passes on them; without, the hashes are placeholders (the
    dashboard bench reads no hash). ``full``: the production-width history (module doc)."""
    rng = random.Random(seed)
    extra = random.Random(seed + 1)
    spacing = timedelta(days=1) / per_day
    first = NOW - spacing * size
    cases: list[dict[str, Any]] = []
    items: list[dict[str, Any]] = []
    case_keys: list[dict[str, Any]] = []
    ev = _Events(keys)

    for n in range(size):
        created = first + spacing * n
        case_id = _uuid(rng)
        channel = rng.choices(("outbound", "inbound", "mail"), (5, 3, 2))[0]
        agent = rng.choice(AGENTS)
        open_ = NOW - created < timedelta(days=2)
        outcome = rng.choices(("retained", "lost", "no_response"), (5, 4, 1))[0]
        offer = rng.choice(OFFERS) if outcome == "retained" else None
        customer = f"C-{n // 10 if rng.random() < 0.1 else n}"
        data: dict[str, Any] = {
            "customer_id": customer,
            "case_number": f"RC-{n:07d}",
            "monthly_revenue_cents": rng.choice((900, 1500, 2500, 3900, 5200)),
        }
        if offer:
            data["offer_code"] = offer
        if rng.random() < 0.2:
            data["csat"] = rng.randint(1, 5)
        roles = {
            "outbound": ["telemarketing"],
            "inbound": ["inbound", "inbound"],
            "mail": ["back_office"] if rng.random() < 0.5 else [],
        }[channel]
        at = created
        ev.start()
        ev.add(case_id, "case_started", at, actor="system", data_after=data)
        if full:
            scored = {"churn_score": round(extra.random(), 3), "segment": extra.choice("ABCD")}
            ev.add(
                case_id,
                "engine_steps",
                at,
                data_after=scored,
                detail={"elements": list(SPECS[1:4])},
            )
            if channel == "outbound" and not open_:
                missed, at = _missed_calls(ev, extra, data, case_id, at)
                items.extend(missed)
        for i, role in enumerate(roles):
            wait = timedelta(seconds=rng.randint(0, 3600) if i == 0 else 0)
            handle = rng.randint(20, 600)
            done = at + wait + timedelta(seconds=handle)
            task_id = _uuid(rng)
            finished = not open_ or i > 0
            item = _item(task_id, case_id, data, channel, f"task_{i}", role, at)
            if finished:
                item.update(state="completed", ended_at=done, ended_by=agent)
                item.update(first_worked_at=at + wait, handling_seconds=float(handle))
            items.append(item)
            ev.add(case_id, "task_ready", at, element_id=f"task_{i}", task_id=task_id)
            if not finished:
                break
            if full:
                _worked(ev, extra, item, agent, at + wait, done)
            answer = {"outcome": outcome, "offer_code": offer} if full else None
            before = {"outcome": None, "offer_code": None} if full else None
            ev.add(
                case_id,
                "task_completed",
                done,
                actor=agent,
                task_id=task_id,
                data_before=before,
                data_after=answer,
            )
            if full:
                ev.add(case_id, "engine_steps", done, detail={"elements": list(SPECS[8:11])})
            at = done
        ended = None if open_ and roles else at + timedelta(seconds=1)
        if ended:
            ev.add(case_id, "case_completed", ended, detail={"outcome": outcome})
        cases.append(
            {
                "id": case_id,
                "business_key": data["case_number"],
                "idempotency_key": None,
                "process_id": channel,
                "process_version": 1,
                "deployment_id": DEPLOYMENT_ID,
                "channel": channel,
                "status": "completed" if ended else "active",
                "outcome": outcome if ended else None,
                "data": data,
                "state": engine_state(extra, data, extra.randint(18, 22)) if full else "{}",
                "serializer_version": "bench",
                "lock_version": ev.seq,
                "started_by": "system",
                "starter_role": "system",
                "audit_seq": ev.seq,
                "audit_hash": ev.rows[-1]["hash"] if keys is not None else GENESIS,
                "created_at": created,
                "updated_at": ended or at,
                "ended_at": ended,
            }
        )
        if keys is not None:
            head = keys.seal(HEAD, case_id, ev.seq, ev.rows[-1]["hash"])
            cases[-1]["audit_seal_key"], cases[-1]["audit_seal"] = head
        case_keys.append({"case_id": case_id, "key": "customer_id", "value": customer})
        if len(cases) >= BATCH:
            yield from (("case", cases), ("work_item", items), ("case_key", case_keys))
            yield ("audit_event", ev.rows)
            cases, items, case_keys, ev.rows = [], [], [], []
    yield from (("case", cases), ("work_item", items), ("case_key", case_keys))
    yield ("audit_event", ev.rows)
