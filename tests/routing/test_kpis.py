"""KPIs by segment and by routing rule, through the API: a process owner sees what the
routing changed (cases offered by "next task" against those taken from the queue)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from tests.routing.test_next_task import ACCEPTED, work

Auth = Callable[[str], dict[str, str]]


def test_kpis_group_by_segment_and_by_routing_rule(
    api: TestClient, auth: Auth, start: Callable[..., dict[str, Any]]
) -> None:
    work(api, auth, "tom", start("fibre"), retained=True)  # taken from the queue: direct
    work(api, auth, "ann", start("standard"), retained=False)
    offered = start("fibre")
    taken = api.post("/api/tasks/next", headers=auth("tom")).json()
    assert taken["task"]["id"] == offered["open_tasks"][0]["id"]
    done = api.post(
        f"/api/tasks/{taken['task']['id']}/complete", json={"data": ACCEPTED}, headers=auth("tom")
    )
    assert done.status_code == 200, done.text

    period = "start=2000-01-01T00:00:00Z&end=2100-01-01T00:00:00Z"

    def kpis(group_by: str) -> list[dict[str, Any]]:
        got = api.get(f"/api/kpis?group_by={group_by}&{period}", headers=auth("owner"))
        assert got.status_code == 200, got.text
        return list(got.json()["data"])

    by_segment = kpis("segment")
    rates = {r["group"]["segment"]: (r["retained"], r["ended"]) for r in by_segment}
    assert rates == {"fibre": (2, 2), "standard": (0, 1)}

    by_rule = kpis("routing_rule")
    cases = {r["group"]["routing_rule"]: (r["ended"], r["tasks_completed"]) for r in by_rule}
    assert cases == {"direct": (2, 2), "outcome": (1, 1)}
    both = kpis("segment,routing_rule")
    assert {tuple(r["group"].values()) for r in both} == {
        ("fibre", "direct"),
        ("fibre", "outcome"),
        ("standard", "direct"),
    }
