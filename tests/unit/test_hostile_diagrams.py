"""Hostile diagrams run through SpiffWorkflow with the sandboxed script engine.

Each diagram in ``tests/data/hostile`` must be refused or stopped without side effects; the
benign diagram proves scripts, a service task, gateway conditions and DMN tables (FIRST and
COLLECT) still work through the sandbox.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser
from SpiffWorkflow.util.task import TaskState

from retention_flow.core.errors import ScriptBudgetExceeded, ScriptError, ScriptRefused
from retention_flow.engine.sandbox import make_script_engine, original_error
from retention_flow.engine.script_pool import ScriptPool

HOSTILE = Path(__file__).parent.parent / "data" / "hostile"
BUDGET = 0.2
SECRET = "TOP-SECRET-5f1c"
FROZEN = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Case:
    file: str
    error: type[Exception]
    detail: str
    failing_element: str


CASES = {
    "hostile_import_os": Case("import_os.bpmn", ScriptRefused, "import of 'os'", "hostile_script"),
    "hostile_open_file": Case(
        "open_file.bpmn", ScriptRefused, "name 'open' is not allowed", "hostile_script"
    ),
    "hostile_subclasses_walk": Case(
        "subclasses_walk.bpmn", ScriptRefused, '"__class__"', "hostile_script"
    ),
    "hostile_getattr_trick": Case(
        "getattr_trick.bpmn", ScriptRefused, "name 'getattr' is not allowed", "hostile_script"
    ),
    "hostile_endless_loop": Case(
        "endless_loop.bpmn", ScriptBudgetExceeded, "longer than 0.2 s", "hostile_script"
    ),
    "hostile_swallowed_interrupt": Case(
        "swallowed_interrupt.bpmn", ScriptBudgetExceeded, "longer than 0.2 s", "hostile_script"
    ),
    "hostile_gateway_open": Case(
        "gateway_open.bpmn", ScriptRefused, "name 'open' is not allowed", "decide"
    ),
    "hostile_gateway_endless": Case(
        "gateway_endless.bpmn", ScriptBudgetExceeded, "longer than 0.2 s", "decide"
    ),
}
BENIGN_FILES = {"benign_retention.bpmn", "benign_offer.dmn", "benign_channels.dmn"}
C_LEVEL_FILES = {"c_level.bpmn", "c_level.json"}


def load(process_id: str, bpmn: str, dmn: tuple[str, ...] = ()) -> tuple[Any, Any]:
    parser = SpiffBpmnParser(validator=VALIDATOR)
    parser.add_bpmn_file(str(HOSTILE / bpmn))
    parser.add_dmn_files([str(HOSTILE / name) for name in dmn])
    return parser.get_spec(process_id), parser.get_subprocess_specs(process_id)


def start(spec: Any, subspecs: Any, engine: Any, **data: Any) -> BpmnWorkflow:
    workflow = BpmnWorkflow(spec, subspecs, script_engine=engine)
    workflow.get_tasks(state=TaskState.READY)[0].data.update(data)
    return workflow


def test_every_diagram_in_the_corpus_is_exercised() -> None:
    on_disk = {path.name for path in HOSTILE.iterdir()}
    assert on_disk == {case.file for case in CASES.values()} | BENIGN_FILES | C_LEVEL_FILES


@pytest.mark.parametrize("process_id", sorted(CASES))
def test_hostile_diagram_is_refused_or_stopped(process_id: str, tmp_path: Path) -> None:
    case = CASES[process_id]
    secret_path, marker_path = tmp_path / "secret.txt", tmp_path / "marker.txt"
    secret_path.write_text(SECRET)
    workflow = start(
        *load(process_id, case.file),
        make_script_engine(budget_seconds=BUDGET),
        secret_path=str(secret_path),
        marker_path=str(marker_path),
    )

    with pytest.raises(WorkflowTaskException) as caught:
        workflow.do_engine_steps()

    error = original_error(caught.value)
    assert isinstance(error, ScriptError)
    assert type(error) is case.error
    assert case.detail in error.detail
    failed = workflow.get_tasks(state=TaskState.ERROR)
    assert [task.task_spec.bpmn_id for task in failed] == [case.failing_element]
    # Nothing happened: no file written, no secret read, nothing after the failure ran.
    assert not marker_path.exists()
    everything = json.dumps([task.data for task in workflow.get_tasks()], default=repr)
    assert SECRET not in everything
    assert "count" not in failed[0].data
    ran = {task.task_spec.bpmn_id for task in workflow.get_tasks(state=TaskState.COMPLETED)}
    assert ran <= {None, "start_event"}


def benign_engine(**handlers: Any) -> Any:
    def crm_lookup(context: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        return {"id": params["customer_id"], "active": context["segment"] != "churned"}

    return make_script_engine(
        budget_seconds=BUDGET,
        now=lambda: FROZEN,
        service_handlers=handlers or {"crm_lookup": crm_lookup},
    )


def run_benign(engine: Any, **data: Any) -> BpmnWorkflow:
    spec, subspecs = load(
        "benign_retention", "benign_retention.bpmn", ("benign_offer.dmn", "benign_channels.dmn")
    )
    defaults = {"contract_start": "2024-03-01", "customer_id": 42, "monthly_fee": 55.5}
    workflow = start(spec, subspecs, engine, **{**defaults, **data})
    workflow.do_engine_steps()
    return workflow


@pytest.mark.parametrize(
    ("data", "offer", "channels"),
    [
        ({"attempts": 1, "segment": "premium"}, "discount_20", ["sms", "call", "letter"]),
        ({"attempts": 0, "segment": "basic"}, "discount_15", ["sms", "letter"]),
        ({"attempts": 1, "segment": "basic", "monthly_fee": 20}, "discount_10", None),
    ],
)
def test_benign_diagram_runs_through_the_sandbox(
    data: dict[str, Any], offer: str, channels: list[str] | None
) -> None:
    workflow = run_benign(benign_engine(), **data)

    assert workflow.is_completed()
    result = workflow.data
    attempts = data["attempts"] + 1
    assert result["offer"] == offer
    if channels is not None:
        assert result["channels"] == channels
    assert result["attempts"] == attempts
    assert result["doubled_attempts"] == 2 * attempts
    assert result["tenure_days"] == 675
    assert result["follow_up"] == "2026-01-19T09:00:00Z"
    assert result["crm"] == {"id": 42, "active": True}
    assert result["summary"].startswith(f"{offer} via ")
    assert "double" not in result  # the lambda the script defined is not task data
    json.dumps(result)


@pytest.mark.parametrize(
    ("data", "reason"),
    [({"attempts": 2}, "no attempts left"), ({"segment": "churned"}, "inactive")],
)
def test_benign_gateway_takes_the_default_flow(data: dict[str, Any], reason: str) -> None:
    workflow = run_benign(benign_engine(), **{"attempts": 0, "segment": "basic", **data})

    assert workflow.is_completed(), reason
    ended = {task.task_spec.bpmn_id for task in workflow.get_tasks(state=TaskState.COMPLETED)}
    assert "end_give_up" in ended
    assert "offer" not in workflow.data


def test_service_failures_reach_the_caller() -> None:
    def broken(context: dict[str, Any], params: dict[str, Any]) -> Any:
        raise ConnectionError("crm down")

    with pytest.raises(WorkflowTaskException) as caught:
        run_benign(benign_engine(crm_lookup=broken), attempts=0, segment="basic")
    assert isinstance(original_error(caught.value), ConnectionError)

    with pytest.raises(WorkflowTaskException) as caught:
        run_benign(benign_engine(billing=broken), attempts=0, segment="basic")
    error = original_error(caught.value)
    assert isinstance(error, ScriptError)
    assert error.detail == "unknown service 'crm_lookup'"


# --- C-level attacks: one C call that would hold the GIL, or growth past a limit ---------------

C_LEVEL = json.loads((HOSTILE / "c_level.json").read_text())
GRACE = 0.25
MARGIN = 0.6
"""Slack over budget + grace for a shared, loaded 2-core machine (process start excluded)."""


@pytest.fixture(scope="module")
def pool() -> Iterator[ScriptPool]:
    workers = ScriptPool(2, 512 * 1024 * 1024, GRACE)
    workers.warm_up()
    yield workers
    workers.close()


def test_c_level_table_and_diagram_agree() -> None:
    spec, _ = load("hostile_c_level", "c_level.bpmn")
    scripts = {
        name.removeprefix("attack_"): task.script
        for name, task in spec.task_specs.items()
        if name.startswith("attack_")
    }
    assert scripts == {attack["name"]: attack["script"] for attack in C_LEVEL}


@pytest.mark.parametrize("attack", C_LEVEL, ids=[attack["name"] for attack in C_LEVEL])
def test_c_level_attack_is_refused_or_stopped_in_time(
    attack: dict[str, str], pool: ScriptPool
) -> None:
    engine = make_script_engine(budget_seconds=BUDGET, pool=pool)
    workflow = start(*load("hostile_c_level", "c_level.bpmn"), engine, attack=attack["name"])

    started = time.monotonic()
    with pytest.raises(WorkflowTaskException) as caught:
        workflow.do_engine_steps()
    elapsed = time.monotonic() - started

    error = original_error(caught.value)
    assert type(error).__name__ == attack["error"], error
    assert attack["detail"] in str(error)
    assert elapsed < BUDGET + GRACE + MARGIN, f"{attack['name']} took {elapsed:.2f} s"
    failed = workflow.get_tasks(state=TaskState.ERROR)
    assert [task.task_spec.bpmn_id for task in failed] == [f"attack_{attack['name']}"]
    assert set(failed[0].data) == {"attack"}  # nothing the script built was kept
    # the pool still serves: the next script runs (in a fresh worker if this one was killed)
    assert engine.environment.evaluate("sum(range(10))", {}) == 45


def test_memory_limit_stops_a_script_and_the_worker_is_replaced() -> None:
    small = ScriptPool(1, 96 * 1024 * 1024, GRACE)
    try:
        engine = make_script_engine(budget_seconds=2.0, pool=small)
        workflow = start(
            *load("hostile_c_level", "c_level.bpmn"), engine, attack="memory_exhaustion"
        )
        started = time.monotonic()
        with pytest.raises(WorkflowTaskException) as caught:
            workflow.do_engine_steps()
        elapsed = time.monotonic() - started

        error = original_error(caught.value)
        assert isinstance(error, ScriptBudgetExceeded)
        assert "more than the 96 MB of memory a script may use" in error.detail
        assert elapsed < 2.0 + GRACE + MARGIN
        assert engine.environment.evaluate("len([0] * 1000)", {}) == 1000
    finally:
        small.close()
