"""``retention-flow demo``: users for every role, synthetic customers, and a realistic mix
of open and finished cases in all four channels, so every queue and page has something
to show. Idempotent: a second run adds nothing (it only deploys a changed bundle).

Everything goes through the same service functions a user's actions do (deploy, start a
case, complete tasks, correlate a returned form, fire timers), so the demo history is
real history, audit trail included.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

from retention_flow.core.errors import Conflict, RetentionFlowError
from retention_flow.db.session import read_session, write_session
from retention_flow.db.tables import CASE, CUSTOMER, USER
from retention_flow.engine.bundle import load_bundle_path
from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.cases.views import CaseView
from retention_flow.services.people import users
from retention_flow.services.platform.context import Actor, AppContext
from retention_flow.services.process_models import deployments as processes
from retention_flow.services.tasks import work_items as tasks

PARTNERS = ("p_alpha", "p_beta", "p_gamma", "p_delta")
PRODUCTS = ("mobile_s", "mobile_m", "mobile_l", "fixed_fibre")
REGIONS = ("north", "south", "east", "west")
FIRST = (
    "Erika",
    "Jonas",
    "Aylin",
    "Lukas",
    "Mia",
    "Felix",
    "Sofia",
    "Noah",
    "Lea",
    "Elias",
    "Hannah",
    "Paul",
    "Emma",
    "Ben",
    "Lina",
    "Finn",
    "Ida",
    "Jan",
    "Nora",
    "Tim",
)
LAST = (
    "Mustermann",
    "Becker",
    "Kaya",
    "Weber",
    "Schulz",
    "Braun",
    "Wagner",
    "Fischer",
    "Hoffmann",
    "Koch",
    "Richter",
    "Klein",
    "Wolf",
    "Neumann",
    "Schwarz",
    "Yilmaz",
)

#: demo partner organisations; restrictions mirror processes/retention/partner_eligibility.dmn
DEMO_PARTNERS: dict[str, dict[str, Any]] = {
    "p_alpha": {
        "name": "Alpha Telesales",
        "capacity_per_period": 400,
        "products": ["mobile_s", "mobile_m", "mobile_l"],
        "regions": ["north", "east"],
        "min_contract_age_months": 6,
        "cost_per_lead_cents": 1500,
        "commission_cents": 3000,
        "quality": 0.30,
    },
    "p_beta": {
        "name": "Beta Direct",
        "capacity_per_period": 300,
        "regions": ["south", "west"],
        "cost_per_lead_cents": 1000,
        "commission_cents": 2500,
        "quality": 0.25,
    },
    "p_gamma": {
        "name": "Gamma Partners",
        "capacity_per_period": 200,
        "regions": ["north", "south"],
        "min_contract_age_months": 12,
        "cost_per_lead_cents": 2000,
        "commission_cents": 3500,
        "quality": 0.40,
        "min_share": 0.1,
    },
    "p_delta": {
        "name": "Delta Retail",
        "capacity_per_period": 150,
        "products": ["mobile_s", "mobile_m", "mobile_l"],
        "min_contract_age_months": 24,
        "cost_per_lead_cents": 800,
        "commission_cents": 2000,
        "quality": 0.20,
    },
}

#: demo users: name -> (roles, partner organisation)
DEMO_USERS: dict[str, tuple[list[str], str | None]] = {
    "agent1": (["agent", "telemarketing", "inbound"], None),
    "agent2": (["agent", "telemarketing"], None),
    "agent3": (["agent", "inbound"], None),
    "specialist1": (["agent", "specialist", "inbound"], None),
    "lead1": (["team_lead", "agent"], None),
    "backoffice1": (["back_office"], None),
    "backoffice2": (["back_office"], None),
    "owner1": (["process_owner"], None),
    "auditor1": (["auditor"], None),
    "admin1": (["admin"], None),
    **{f"partner_{p[2:]}": (["partner"], p) for p in PARTNERS},
}
#: demo teams (KPIs by team)
DEMO_TEAMS = {
    "agent1": "north",
    "agent2": "north",
    "lead1": "north",
    "agent3": "south",
    "specialist1": "south",
}
CASE_MIX = {
    "outbound_telemarketing": 0.45,
    "inbound_callcentre": 0.25,
    "mail_response": 0.2,
    "sales_partner": 0.1,
}


@dataclass
class DemoResult:
    deployed: list[str] = field(default_factory=list)
    users_created: dict[str, str] = field(default_factory=dict)  # name -> password
    customers_created: int = 0
    partners_created: int = 0
    cases_started: int = 0
    tasks_completed: int = 0


def seed(
    ctx: AppContext,
    *,
    processes_dir: Path,
    customers: int = 10_000,
    cases_total: int = 400,
    password: str | None = None,
    seed_value: int = 20261123,
) -> DemoResult:
    result = DemoResult()
    rng = random.Random(seed_value)  # noqa: S311 - reproducible synthetic data, not secrets
    owner = Actor("demo", frozenset({"process_owner", "system"}))
    for folder in sorted({p.parent for p in processes_dir.rglob("*.bpmn")}):
        deployed = processes.deploy(ctx, load_bundle_path(folder), owner)
        if deployed.created:
            result.deployed.append(folder.name)
    result.users_created = _users(ctx, password)
    result.partners_created = _partners(ctx, owner)
    result.customers_created = _customers(ctx, customers, rng)
    if _demo_cases_exist(ctx):
        return result
    rows = _customer_rows(ctx, min(cases_total, customers))
    for index, customer in enumerate(rows, start=1):
        process_id = rng.choices(list(CASE_MIX), weights=list(CASE_MIX.values()))[0]
        data = _case_data(customer, index)
        starter = Actor("system", frozenset({"system", "agent"}))
        case = cases.start_case(
            ctx,
            starter,
            process_id,
            data,
            business_key=data["case_number"],
            idempotency_key=f"demo-{index}",
        )
        result.cases_started += 1
        result.tasks_completed += _work_some(ctx, case, rng)
    return result


def _users(ctx: AppContext, password: str | None) -> dict[str, str]:
    created: dict[str, str] = {}
    with read_session(ctx.db) as session:
        existing = set(session.execute(select(USER.c.username)).scalars())
    for name, (roles, partner) in DEMO_USERS.items():
        if name in existing:
            continue
        secret = password or secrets.token_urlsafe(12)
        try:
            users.add_user(ctx, name, secret, roles, partner, DEMO_TEAMS.get(name))
        except Conflict:
            continue
        created[name] = secret
    return created


def _partners(ctx: AppContext, actor: Actor) -> int:
    from retention_flow.services.partners.organisations import list_partners, save_partner

    have = {p.id for p in list_partners(ctx, limit=500)[0]}
    created = 0
    for partner_id, values in DEMO_PARTNERS.items():
        if partner_id not in have:
            save_partner(ctx, actor, partner_id, values)
            created += 1
    return created


def _customers(ctx: AppContext, count: int, rng: random.Random) -> int:
    with read_session(ctx.db) as session:
        have = int(session.execute(select(func.count()).select_from(CUSTOMER)).scalar_one())
    if have >= count:
        return 0
    now = ctx.now()
    rows = []
    for n in range(have + 1, count + 1):
        tenure = rng.randint(1, 120)
        product = rng.choice(PRODUCTS)
        revenue = {"mobile_s": 1500, "mobile_m": 3000, "mobile_l": 5000, "fixed_fibre": 4000}[
            product
        ]
        rows.append(
            {
                "id": f"C-{n:06d}",
                "name": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                "product": product,
                "region": rng.choice(REGIONS),
                "tenure_months": tenure,
                "contract_age_months": min(tenure, rng.randint(1, 36)),
                "contract_end": (now + timedelta(days=rng.randint(-30, 180))).date(),
                "monthly_revenue_cents": revenue + rng.randint(-500, 1500),
                "churn_risk": rng.choices(("low", "medium", "high"), weights=(5, 3, 2))[0],
                "created_at": now,
            }
        )
    with write_session(ctx.db) as session:
        for start in range(0, len(rows), 2000):
            session.execute(insert(CUSTOMER), rows[start : start + 2000])
        session.commit()
    return len(rows)


def _demo_cases_exist(ctx: AppContext) -> bool:
    with read_session(ctx.db) as session:
        query = select(CASE.c.id).where(CASE.c.idempotency_key.like("demo-%")).limit(1)
        return session.execute(query).first() is not None


def _customer_rows(ctx: AppContext, count: int) -> list[dict[str, Any]]:
    with read_session(ctx.db) as session:
        query = select(CUSTOMER).order_by(CUSTOMER.c.id).limit(count)
        return [dict(r) for r in session.execute(query).mappings()]


def _case_data(customer: dict[str, Any], index: int) -> dict[str, Any]:
    number = f"RC-2026-{index:06d}"
    check = sum(int(d) for d in f"{index:06d}") % 10
    contract_end = customer["contract_end"]
    return {
        "customer_id": customer["id"],
        "case_number": f"{number}-{check}",
        "customer_name": customer["name"],
        "tenure_months": customer["tenure_months"],
        "monthly_revenue_cents": customer["monthly_revenue_cents"],
        "contract_end": contract_end.isoformat()
        if isinstance(contract_end, date)
        else contract_end,
        "churn_risk": customer["churn_risk"],
        "product": customer["product"],
        "region": customer["region"],
        "contract_age_months": customer["contract_age_months"],
    }


#: plausible form answers per task, tried in order until one validates
ANSWERS: dict[str, list[dict[str, Any]]] = {
    "call_customer": [
        {"reached": True, "call_outcome": "accepted"},
        {"reached": True, "call_outcome": "declined", "reason": "price"},
        {"reached": False},
    ],
    "capture_reason": [
        {"cancellation_reason": "price"},
        {"cancellation_reason": "competitor_offer"},
    ],
    "present_offer": [{"offer_response": "accepted"}, {"offer_response": "declined"}],
    "work_lead": [
        {"partner_outcome": "retained", "offer_code": "DISCOUNT_10"},
        {"partner_outcome": "declined"},
    ],
}


def _work_some(ctx: AppContext, case: CaseView, rng: random.Random) -> int:
    """Walk a share of the cases a step or two, so queues hold a realistic mix."""
    done = 0
    for _ in range(rng.choice((0, 0, 1, 1, 2))):
        open_tasks = case.open_tasks
        if not open_tasks:
            break
        task = open_tasks[0]
        answers = ANSWERS.get(task.element_id)
        if not answers:
            break
        worker = Actor(f"demo-{task.role}", frozenset({task.role, "agent"}), task.partner)
        for answer in rng.sample(answers, len(answers)):
            try:
                case = tasks.complete(ctx, worker, task.id, answer).case
                done += 1
                break
            except RetentionFlowError:
                continue
        else:
            break
    return done
