"""Case starts sent by users with an ``Idempotency-Key``: each runs once per (user, key),
its answer stored in the start's own transaction and replayed to a repeat (see
``idempotency``; messages: ``start_events.receive_message``). Without a key it runs as
it is."""

from __future__ import annotations

from typing import Any

from retention_flow.services.cases.lifecycle import start_case
from retention_flow.services.cases.views import answer_of, recording
from retention_flow.services.platform.context import Actor, AppContext
from retention_flow.services.platform.idempotency import Answer, idempotent


def start_case_once(
    ctx: AppContext,
    actor: Actor,
    process_id: str,
    data: dict[str, Any] | None = None,
    *,
    key: str | None,
    business_key: str | None = None,
    version: int | None = None,
) -> Answer:
    """``start_case`` once per (user, key) (see ``idempotency``): the answer (the case
    view's JSON) is stored in the start's own transaction; a repeat answers it again,
    marked as a replay."""
    request = {
        "process_id": process_id,
        "data": data or {},
        "business_key": business_key,
        "version": version,
    }
    return idempotent(
        ctx,
        actor,
        "start_case",
        key,
        request,
        lambda record: answer_of(
            start_case(
                ctx,
                actor,
                process_id,
                data,
                business_key=business_key,
                version=version,
                before_commit=recording(record),
            )
        ),
    )
