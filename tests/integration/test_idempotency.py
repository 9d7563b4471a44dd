"""Message idempotency: the answer commits with the message's own step, so a key is
never left "still running" by a request that died, and a message is delivered once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select, update

from retention_flow.core.clock import FrozenClock
from retention_flow.core.errors import Conflict
from retention_flow.db.session import read_session, write_session
from retention_flow.db.tables import AUDIT_EVENT as AUDIT
from retention_flow.db.tables import IDEMPOTENCY_KEY
from retention_flow.services.cases import keyed_starts as case_requests
from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.cases import start_events
from retention_flow.services.cases.views import CaseView, answer_of, recording
from retention_flow.services.platform import worker
from retention_flow.services.platform.context import AppContext
from retention_flow.services.platform.idempotency import fingerprint, idempotent, purge_expired
from retention_flow.services.tasks import work_items as tasks
from tests.factories import SYSTEM, actor, deploy

AGENT = actor("alice", "agent", "back_office")
CORRELATION = {"business_key": "M1"}
DATA = {"case_number": "M1", "accepted_offer": "A"}
SCOPE = "message:response_form_received"


def _waiting_case(ctx: AppContext) -> CaseView:
    deploy(ctx, "message_wait")
    case = cases.start_case(ctx, AGENT, "message_wait", {}, business_key="M1")
    tasks.complete(ctx, AGENT, case.open_tasks[0].id, {"letter_channel": "post"})
    return case


def _deliver(ctx: AppContext, key: str = "k-1") -> dict[str, Any]:
    answer = start_events.receive_message(
        ctx, SYSTEM, "response_form_received", CORRELATION, DATA, key
    )
    return answer.body


def _key_rows(ctx: AppContext) -> list[Any]:
    with read_session(ctx.db) as session:
        return list(session.execute(select(IDEMPOTENCY_KEY)).mappings())


def _deliveries(ctx: AppContext, case_id: str) -> int:
    with read_session(ctx.db) as session:
        rows = session.execute(select(AUDIT.c.type).where(AUDIT.c.case_id == case_id)).scalars()
        return sum(1 for t in rows if t == "message_correlated")


def _reserve_pending(ctx: AppContext, at: Any, key: str = "k-1") -> None:
    request = {"correlation": CORRELATION, "data": DATA}
    with write_session(ctx.db) as session:
        session.execute(
            insert(IDEMPOTENCY_KEY).values(
                owner=SYSTEM.username,
                scope=SCOPE,
                key=key,
                fingerprint=fingerprint(request),
                state="pending",
                response=None,
                created_by="crashed",
                created_at=at,
                expires_at=at + timedelta(hours=ctx.settings.idempotency_ttl_hours),
            )
        )
        session.commit()


def test_answer_is_stored_with_the_delivery(ctx: AppContext) -> None:
    case = _waiting_case(ctx)
    first = _deliver(ctx)
    assert first["status"] == "completed"
    [row] = _key_rows(ctx)
    assert row["state"] == "done" and row["response"] == first
    assert _deliver(ctx) == first
    assert _deliveries(ctx, case.id) == 1


def test_a_failure_before_commit_undoes_the_delivery_and_frees_the_key(ctx: AppContext) -> None:
    case = _waiting_case(ctx)

    def crash_after_record(record: Any) -> dict[str, Any]:
        keep = recording(record)
        assert keep is not None

        def then_crash(session: Any, answer: CaseView) -> None:
            keep(session, answer)
            raise RuntimeError("process died before commit")

        return answer_of(
            cases.correlate_message(
                ctx, SYSTEM, "response_form_received", CORRELATION, DATA, before_commit=then_crash
            )
        )

    request = {"correlation": CORRELATION, "data": DATA}
    with pytest.raises(RuntimeError):
        idempotent(ctx, SYSTEM, SCOPE, "k-1", request, crash_after_record)
    assert _key_rows(ctx) == [] and _deliveries(ctx, case.id) == 0
    assert cases.get_case(ctx, case.id).status == "active"
    assert _deliver(ctx)["status"] == "completed"  # the retry delivers, once
    assert _deliveries(ctx, case.id) == 1


def test_fresh_pending_reservation_answers_still_running(
    ctx: AppContext, clock: FrozenClock
) -> None:
    _waiting_case(ctx)
    _reserve_pending(ctx, clock.now() - timedelta(seconds=5))
    with pytest.raises(Conflict, match="still running"):
        _deliver(ctx)


def test_abandoned_reservation_is_taken_over(ctx: AppContext, clock: FrozenClock) -> None:
    case = _waiting_case(ctx)
    stale = ctx.settings.idempotency_pending_seconds + 1
    _reserve_pending(ctx, clock.now() - timedelta(seconds=stale))
    assert _deliver(ctx)["status"] == "completed"
    [row] = _key_rows(ctx)
    assert row["state"] == "done" and row["created_by"] == SYSTEM.username
    assert _deliveries(ctx, case.id) == 1


def test_a_slow_first_attempt_taken_over_is_rolled_back(
    ctx: AppContext, clock: FrozenClock
) -> None:
    """The first attempt stalls past the stale limit and a retry takes its reservation
    over. When the stalled attempt reaches its commit, its record finds the key taken:
    its step is undone (no delivery), and the taker's reservation is left alone."""
    case = _waiting_case(ctx)
    request = {"correlation": CORRELATION, "data": DATA}
    taken_at = clock.now() + timedelta(seconds=ctx.settings.idempotency_pending_seconds + 1)

    def slow_first(record: Any) -> dict[str, Any]:
        with write_session(ctx.db) as session:  # what the retry's reservation does
            session.execute(update(IDEMPOTENCY_KEY).values(created_at=taken_at, created_by="retry"))
            session.commit()
        return answer_of(
            cases.correlate_message(
                ctx, SYSTEM, "response_form_received", CORRELATION, DATA, recording(record)
            )
        )

    with pytest.raises(Conflict, match="taken over"):
        idempotent(ctx, SYSTEM, SCOPE, "k-1", request, slow_first)
    assert _deliveries(ctx, case.id) == 0
    assert cases.get_case(ctx, case.id).status == "active"
    [row] = _key_rows(ctx)
    assert row["state"] == "pending" and row["created_by"] == "retry"


def test_an_answer_expires_after_its_ttl(ctx: AppContext, clock: FrozenClock) -> None:
    """Within the TTL a key replays its answer; past it, the same key is a new request
    (also before the worker purged the old row); ``purge_expired`` removes old rows."""
    deploy(ctx, "three_steps")
    ttl = timedelta(hours=ctx.settings.idempotency_ttl_hours)

    def start() -> Any:
        return case_requests.start_case_once(ctx, AGENT, "three_steps", {"a": 1}, key="k-9")

    first = start()
    clock.advance(ttl - timedelta(seconds=1))
    again = start()
    assert again.replayed and again.body == first.body
    clock.advance(timedelta(seconds=2))
    fresh = start()  # the expired row is still there: replaced, not replayed
    assert not fresh.replayed and fresh.body["id"] != first.body["id"]
    assert purge_expired(ctx) == 0  # the row now holds the fresh answer
    clock.advance(ttl + timedelta(seconds=1))
    worker.run_worker(ctx, handlers={}, max_passes=1)  # its sweep purges expired keys
    assert _key_rows(ctx) == []
    assert cases.list_cases(ctx)[1] == 2
