"""Messages correlated to a waiting case (idempotent with ``Idempotency-Key``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Path, Response

from retention_flow.services.cases import start_events
from retention_flow.services.platform.context import Actor

from ..deps import CtxDep, require_role
from ..idempotency import IdempotencyKeyHeader, mark, replay_responses, request_key
from ..schemas import CasePublic, MessageIn
from ..strict_body import api_router

router = api_router(prefix="/api/messages", tags=["messages"])

Sender = Annotated[Actor, Depends(require_role("back_office", "system"))]


@router.post("/{message_name}", response_model=CasePublic, responses=replay_responses(200))
def correlate(
    ctx: CtxDep,
    user: Sender,
    message_name: Annotated[str, Path(max_length=200)],
    body: MessageIn,
    response: Response,
    header_key: IdempotencyKeyHeader = None,
) -> dict[str, Any]:
    """Deliver a message to the one open case matching ``correlation``; when none does and
    a deployed process starts with this message, start a case of it (the correlation
    values become its data). 404 when neither, 409 when several cases match. A repeated
    ``Idempotency-Key`` (same user) answers the first result again."""
    key = request_key(header_key)
    answer = start_events.receive_message(ctx, user, message_name, body.correlation, body.data, key)
    mark(response, answer, key)
    return answer.body
