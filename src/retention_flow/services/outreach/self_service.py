"""Customer self-service: a personal link on each retention letter to answer the offer.

Every response form and reminder letter (``services/handlers.write_letter``) gets one
link, written in the letter's step: ``<self_service_base_url>/s/<token>``. The token is
``<link id>.<signature>`` (28 characters, short enough to type from paper): the link id
is 96 random bits, the signature an HMAC-SHA256 under a key derived from the service's
secret key, so a token cannot be made or altered without it, and a forged or damaged one
is refused before the database is asked. The link row (``self_service_link``) names the
one case it answers and its expiry, makes it single use, and lets an operator see what
was answered.

The customer's answer reaches the waiting case exactly like a mailed response form: the
message ``response_form_received`` with ``chosen_offer`` (an offer printed on the letter,
or ``"none"``), ``signed`` (the online confirmation stands in for the signature),
``uncertain: false``, ``source: "self_service"`` and ``csat`` when the customer rated the
contact. The link is marked used in the same transaction as that case step, so a double
submit books once; the audit trail names the actor ``customer``. A paper form that
arrives later finds no case waiting and goes to a person (scan exception).

Only what the page needs is shown: the customer's first name and the offers. Requests
are counted per client address and minute in the database (``self_service_hit``) and
refused beyond ``self_service_requests_per_minute`` (429), across serving processes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, and_, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from retention_flow.core.errors import RetentionFlowError, TooManyAttempts, ValidationFailed
from retention_flow.db.session import read_session, write_session
from retention_flow.db.tables import CASE, LETTER, SELF_SERVICE_HIT, SELF_SERVICE_LINK
from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.cases.views import CaseView
from retention_flow.services.outreach.self_service_links import signed_link_id
from retention_flow.services.platform.context import Actor, AppContext

MESSAGE = "response_form_received"
CUSTOMER = Actor("customer", frozenset({"customer"}))
DECLINE = "none"
#: the ratings a customer may give the contact (CSAT)
RATINGS = range(1, 6)
_CLIENT_MAX = 64


class LinkNotUsable(RetentionFlowError):
    """The link is unknown, damaged, expired or already used (410 on the page)."""

    code = "link_not_usable"
    title = "Link not usable"

    def __init__(self, detail: str, *, gone: bool = True) -> None:
        super().__init__(detail)
        #: False for a link that never existed (or was altered), True once used or expired
        self.gone = gone


@dataclass(frozen=True)
class Offer:
    code: str
    title: str


@dataclass(frozen=True)
class LinkView:
    """What the page shows: the first name and the offers printed on the letter."""

    link_id: str
    case_id: str
    first_name: str
    offers: tuple[Offer, ...]
    expires_at: datetime

    def title_of(self, code: str) -> str:
        if code == DECLINE:
            return "No thanks, none of these offers"
        return next((o.title for o in self.offers if o.code == code), code)


@dataclass(frozen=True)
class Answer:
    """What the customer answered, once it reached the case."""

    chosen_offer: str
    title: str
    csat: int | None


def _link_id(ctx: AppContext, token: str) -> str:
    link_id = signed_link_id(ctx.settings, token)
    if link_id is None:
        raise LinkNotUsable(_INVALID, gone=False)
    return link_id


_INVALID = "This link is not valid. Please check it against your letter."
_EXPIRED = (
    "This link has expired. You can still answer with the response form in your letter, or call us."
)
_USED = "This link has already been used: your answer has reached us. Thank you."


# --------------------------------------------------------------------------- the page


def open_link(ctx: AppContext, token: str, client: str | None) -> LinkView:
    """What the customer sees behind ``token`` (LinkNotUsable when it cannot be used)."""
    count_request(ctx, client)
    link_id = _link_id(ctx, token)
    with read_session(ctx.db) as session:
        return _view(ctx, session, link_id)


def _view(ctx: AppContext, session: Session, link_id: str) -> LinkView:
    row = session.execute(
        select(
            SELF_SERVICE_LINK.c.used_at,
            SELF_SERVICE_LINK.c.expires_at,
            LETTER.c.document,
            LETTER.c.offer_codes,
            CASE.c.data,
            CASE.c.status,
            CASE.c.id.label("case_id"),
        )
        .join(LETTER, LETTER.c.id == SELF_SERVICE_LINK.c.letter_id)
        .join(CASE, CASE.c.id == SELF_SERVICE_LINK.c.case_id)
        .where(SELF_SERVICE_LINK.c.id == link_id)
    ).first()
    if row is None:
        raise LinkNotUsable(_INVALID, gone=False)
    if row.used_at is not None:
        raise LinkNotUsable(_USED)
    if row.expires_at <= ctx.now():
        raise LinkNotUsable(_EXPIRED)
    if row.status not in ("active", "suspended", "incident"):
        raise LinkNotUsable(
            "Your case is already closed, so this offer can no longer be answered online. "
            "Please call us if you have questions."
        )
    document = row.document or {}
    offers = tuple(
        Offer(str(o.get("code")), str(o.get("title") or o.get("code")))
        for o in document.get("offers") or [{"code": c} for c in row.offer_codes or []]
    )
    name = str(document.get("customer_name") or (row.data or {}).get("customer_name") or "")
    return LinkView(
        link_id=link_id,
        case_id=str(row.case_id),
        first_name=_first_name(name),
        offers=offers,
        expires_at=row.expires_at,
    )


def _first_name(name: str) -> str:
    """The first word of the name (the page shows no more of the customer than that)."""
    words = name.split()
    return words[0] if words else ""


def check_choice(view: LinkView, choice: str, csat: int | None) -> None:
    """ValidationFailed unless ``choice`` is an offer in the letter (or the decline) and
    ``csat`` a rating from 1 to 5 (or none)."""
    if choice != DECLINE and choice not in {o.code for o in view.offers}:
        raise ValidationFailed(
            "Please choose an offer, or decline.",
            errors=[{"field": "choice", "message": f"not an offer in the letter: {choice!r}"}],
        )
    if csat is not None and csat not in RATINGS:
        raise ValidationFailed(
            "A rating is a number from 1 to 5.",
            errors=[{"field": "csat", "message": "a number from 1 to 5"}],
        )


def answer(ctx: AppContext, view: LinkView, choice: str, csat: int | None) -> Answer:
    """Take the customer's answer to the waiting case, once (``view``: what ``open_link``
    showed for this request; the link is marked used in the case step's transaction, so
    a link used meanwhile is refused there)."""
    check_choice(view, choice, csat)
    given = {"chosen_offer": choice, "csat": csat}
    payload: dict[str, Any] = {
        "chosen_offer": choice,
        "signed": choice != DECLINE,  # the online confirmation stands in for the signature
        "uncertain": False,
        "source": "self_service",
    }
    if csat is not None:
        payload["csat"] = csat

    def mark_used(session: Session, _view_after: CaseView) -> None:
        marked = session.execute(
            update(SELF_SERVICE_LINK)
            .where(
                and_(SELF_SERVICE_LINK.c.id == view.link_id, SELF_SERVICE_LINK.c.used_at.is_(None))
            )
            .values(used_at=ctx.now(), answer=given)
        )
        if cast(CursorResult[Any], marked).rowcount != 1:  # a double submit: the first one took it
            raise LinkNotUsable(_USED)

    try:
        cases.correlate_message(
            ctx, CUSTOMER, MESSAGE, {"case_id": view.case_id}, payload, before_commit=mark_used
        )
    except LinkNotUsable:
        raise
    except RetentionFlowError as exc:
        raise LinkNotUsable(
            "Your answer could not be taken online just now: the case is not waiting for "
            "an answer. Please call us."
        ) from exc
    return Answer(choice, view.title_of(choice), csat)


# --------------------------------------------------------------------------- rate limit


def count_request(ctx: AppContext, client: str | None) -> None:
    """Count one request from ``client`` in this minute; TooManyAttempts past the limit."""
    address = (client or "local")[:_CLIENT_MAX]
    now = ctx.now()
    window = now.replace(second=0, microsecond=0)
    limit = ctx.settings.self_service_requests_per_minute
    for _ in range(3):  # a concurrent first request from the address may insert first
        try:
            hits = _count(ctx, address, window)
            break
        except IntegrityError:
            continue
    else:
        hits = limit + 1
    if hits > limit:
        wait = max(1, int((window + timedelta(minutes=1) - now).total_seconds()))
        raise TooManyAttempts(
            f"Too many requests from your address. Please wait {wait} seconds and try again.",
            retry_after=wait,
        )


def _count(ctx: AppContext, address: str, window: datetime) -> int:
    table = SELF_SERVICE_HIT
    with write_session(ctx.db) as session:
        row = session.execute(
            select(table.c.window_start, table.c.hits)
            .where(table.c.client == address)
            .with_for_update()
        ).first()
        if row is None:
            hits = 1
            session.execute(insert(table).values(client=address, window_start=window, hits=1))
        else:
            hits = 1 if row.window_start < window else int(row.hits) + 1
            session.execute(
                update(table)
                .where(table.c.client == address)
                .values(window_start=window, hits=hits)
            )
        # addresses quiet for an hour are forgotten (an index range on window_start)
        session.execute(delete(table).where(table.c.window_start < window - timedelta(hours=1)))
        session.commit()
    return hits
