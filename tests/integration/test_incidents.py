"""A failing automatic step leaves the case as it was, records an incident, and can
be retried after a data correction. A diagram's hostile script is refused at deploy
time, and one that runs away is stopped by the budget at run time."""

from __future__ import annotations

import pytest

from retention_flow.core.errors import CaseNotActive, InvalidProcess
from retention_flow.db.session import read_session
from retention_flow.services.audit import trail as audit
from retention_flow.services.cases import incidents
from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.platform.context import AppContext
from retention_flow.services.process_models import deployments as processes
from retention_flow.services.tasks import work_items as tasks
from tests.factories import OWNER, actor, bundle_files

AGENT = actor("alice", "agent", "telemarketing")
ORIGINAL = b"attempts = 0\nscore = 42"


def _deploy_with_script(ctx: AppContext, script: bytes) -> None:
    files = bundle_files("three_steps")
    assert ORIGINAL in files["three_steps.bpmn"]
    files["three_steps.bpmn"] = files["three_steps.bpmn"].replace(ORIGINAL, script)
    processes.deploy(ctx, files, OWNER)


def test_failing_script_raises_incident_and_retry_fixes_it(ctx: AppContext) -> None:
    _deploy_with_script(ctx, b"attempts = 0\nscore = 100 // divisor")
    case = cases.start_case(ctx, AGENT, "three_steps", {"divisor": 0})
    assert case.status == "incident" and case.open_tasks == []
    [incident] = incidents.case_incidents(ctx, case.id)
    assert incident["element_id"] == "prepare_case" and incident["status"] == "open"
    assert "ZeroDivisionError" in incident["error_type"]
    assert "score" not in case.data  # nothing of the failed step was kept
    again = incidents.retry_case(ctx, AGENT, case.id)  # same data: fails again
    assert again.status == "incident"
    fixed = incidents.retry_case(ctx, AGENT, case.id, {"divisor": 4}, "divisor fixed")
    assert fixed.status == "active" and fixed.data["score"] == 25
    assert [t.element_id for t in fixed.open_tasks] == ["call_customer"]
    assert [i["status"] for i in incidents.case_incidents(ctx, case.id)] == [
        "resolved",
        "resolved",
    ]
    with pytest.raises(CaseNotActive):  # nothing left to retry
        incidents.retry_case(ctx, AGENT, case.id)
    with read_session(ctx.db) as session:
        types = [e.type for e in audit.history(session, case.id)]
        assert audit.verify(session).ok
    assert types[:2] == ["case_started", "incident_raised"]
    assert "incident_retried" in types and "task_ready" in types


def test_runaway_script_is_stopped_by_the_budget(ctx: AppContext) -> None:
    _deploy_with_script(ctx, b"attempts = 0\nwhile True:\n    attempts += 1")
    case = cases.start_case(ctx, AGENT, "three_steps", {})
    assert case.status == "incident"
    [incident] = incidents.case_incidents(ctx, case.id)
    assert incident["element_id"] == "prepare_case"
    assert incident["error_type"] == "ScriptBudgetExceeded"


@pytest.mark.parametrize(
    "script",
    [
        b"import os",
        b"x = open('/etc/passwd').read()",
        b"x = ().__class__.__base__.__subclasses__()",
        b"x = getattr(1, '__class__')",
        b"__import__('os').system('id')",
    ],
    ids=["import", "open", "subclasses", "getattr", "dunder-import"],
)
def test_hostile_script_is_refused_at_deploy(ctx: AppContext, script: bytes) -> None:
    with pytest.raises(InvalidProcess) as err:
        _deploy_with_script(ctx, script)
    assert any(e["element_id"] == "prepare_case" for e in err.value.errors), err.value.errors


def test_incident_on_a_user_step_keeps_the_agents_input(ctx: AppContext) -> None:
    files = bundle_files("three_steps")
    bpmn = files["three_steps.bpmn"]
    # make the gateway condition fail at run time: a name the data does not have
    files["three_steps.bpmn"] = bpmn.replace(
        b'offer_response == "accepted"', b'missing_variable == "accepted"'
    )
    processes.deploy(ctx, files, OWNER)
    case = cases.start_case(ctx, AGENT, "three_steps", {})
    step = tasks.complete(ctx, AGENT, case.open_tasks[0].id, {"call_result": "reached"})
    offer = step.next_tasks[0]
    result = tasks.complete(ctx, AGENT, offer.id, {"offer_response": "accepted"})
    assert result.case.status == "incident"
    assert result.case.data["offer_response"] == "accepted"  # the agent's input is kept
    [incident] = incidents.case_incidents(ctx, case.id)
    assert incident["element_id"] == "gw_offer_accepted"
    fixed = incidents.retry_case(
        ctx, AGENT, case.id, {"missing_variable": "accepted"}, "variable added"
    )
    assert [t.element_id for t in fixed.open_tasks] == ["confirm_change"]
