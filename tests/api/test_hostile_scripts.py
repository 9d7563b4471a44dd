"""Hostile scripts through HTTP: a case whose script does its damage inside one C call ends
in an incident naming the element and the limit, in time, and the server keeps answering."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from retention_flow.services.cases import incidents
from retention_flow.services.platform.context import AppContext
from tests.factories import DATA

Headers = dict[str, dict[str, str]]
HOSTILE = DATA / "hostile"
ATTACKS = {attack["name"]: attack for attack in json.loads((HOSTILE / "c_level.json").read_text())}
BUDGET = 0.5  # tests/api/conftest.py settings


def _deploy(client: TestClient, headers: Headers) -> None:
    body = (HOSTILE / "c_level.bpmn").read_bytes()
    files = [("files", ("c_level.bpmn", body, "application/octet-stream"))]
    response = client.post("/api/processes", files=files, headers=headers["process_owner"])
    assert response.status_code == 201, response.text


def _start(client: TestClient, headers: Headers, attack: str) -> Any:
    return client.post(
        "/api/cases",
        json={"process_id": "hostile_c_level", "data": {"attack": attack}},
        headers=headers["agent"],
    )


@pytest.mark.parametrize(
    "attack", ["str_of_repeated_list", "extend_doubling", "compare_shared_tuples", "huge_result"]
)
def test_hostile_case_ends_in_an_incident_naming_element_and_limit(
    ctx: AppContext, client: TestClient, headers: Headers, attack: str
) -> None:
    _deploy(client, headers)
    started = time.monotonic()
    response = _start(client, headers, attack)
    elapsed = time.monotonic() - started

    assert response.status_code == 201, response.text
    case = response.json()
    assert case["status"] == "incident", case
    assert elapsed < BUDGET + 0.25 + 1.0
    [incident] = incidents.case_incidents(ctx, case["id"])
    assert incident["element_id"] == f"attack_{attack}"
    assert ATTACKS[attack]["detail"] in json.dumps(incident, default=str), incident


def test_health_answers_while_a_script_spins_in_c(client: TestClient, headers: Headers) -> None:
    _deploy(client, headers)
    warm = _start(client, headers, "none")  # compiles the version: not what is measured
    assert warm.json()["status"] == "completed", warm.text
    assert client.get("/health").status_code == 200  # first call: lazy set-up, not measured
    answers: list[Any] = []
    attacker = threading.Thread(
        target=lambda: answers.append(_start(client, headers, "compare_shared_tuples"))
    )
    attacker.start()
    latencies = []
    while attacker.is_alive():
        t0 = time.monotonic()
        assert client.get("/health").status_code == 200
        latencies.append(time.monotonic() - t0)
    attacker.join()
    assert answers[0].json()["status"] == "incident"
    assert latencies and max(latencies) < 0.25, latencies
