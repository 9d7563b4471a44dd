"""The element diff of two model files: ids added, removed, changed; layout is no change."""

from __future__ import annotations

import pytest

from retention_flow.core.errors import InvalidProcess
from retention_flow.engine.diff import element_diff
from tests.factories import bundle_files

BPMN = bundle_files("three_steps")["three_steps.bpmn"].decode()
DMN = bundle_files("all_elements")["offer_decision.dmn"].decode()


def _ids(diff: dict[str, list[dict[str, str | None]]]) -> dict[str, list[str | None]]:
    return {kind: [e["id"] for e in elements] for kind, elements in diff.items()}


def test_identical_files_have_no_diff() -> None:
    assert element_diff("a.bpmn", BPMN, BPMN).empty


def test_moving_a_shape_is_no_change() -> None:
    moved = BPMN.replace('x="', 'x="1', 1)
    assert moved != BPMN
    assert element_diff("a.bpmn", BPMN, moved).empty


def test_changed_task_names_that_task_only() -> None:
    changed = BPMN.replace('name="Call customer"', 'name="Call the customer"')
    diff = element_diff("a.bpmn", BPMN, changed).as_dict()
    assert _ids(diff) == {"added": [], "removed": [], "changed": ["call_customer"]}
    assert diff["changed"][0] == {
        "id": "call_customer",
        "type": "userTask",
        "name": "Call the customer",
    }


def test_script_and_condition_changes_count() -> None:
    changed = BPMN.replace("score = 42", "score = 43").replace(
        'offer_response == "accepted"', 'offer_response in ("accepted", "yes")'
    )
    assert _ids(element_diff("a.bpmn", BPMN, changed).as_dict())["changed"] == [
        "prepare_case",
        "flow_accepted",
    ]


def test_added_and_removed_elements() -> None:
    changed = BPMN.replace(
        '<bpmn:endEvent id="end_lost" name="Customer lost">',
        '<bpmn:endEvent id="end_lost_for_good" name="Customer lost">',
    )
    diff = _ids(element_diff("a.bpmn", BPMN, changed).as_dict())
    assert diff["added"] == ["end_lost_for_good"]
    assert diff["removed"] == ["end_lost"]


def test_an_edited_dmn_cell_changes_its_rule() -> None:
    changed = DMN.replace('"DISCOUNT_10"', '"DISCOUNT_15"')
    diff = _ids(element_diff("d.dmn", DMN, changed).as_dict())
    assert diff == {"added": [], "removed": [], "changed": ["rule_new_high_risk"]}


def test_unreadable_xml_is_refused() -> None:
    with pytest.raises(InvalidProcess):
        element_diff("a.bpmn", BPMN, "<definitions")
