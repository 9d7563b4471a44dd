"""Editing one file of a deployed version redeploys its bundle as a new version;
comparing two versions names the files and elements that changed."""

from __future__ import annotations

from typing import Any

import pytest

from retention_flow.core.errors import InvalidProcess, NotFound, ValidationFailed
from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.process_models import deployments as processes
from retention_flow.services.process_models import versions
from tests.factories import OWNER, actor, deploy

DMN = "offer_decision.dmn"


def test_version_files_hold_the_whole_bundle(ctx: Any) -> None:
    deploy(ctx, "all_elements")
    found = versions.version_files(ctx, "all_elements", 1)
    assert found.file_name == "all_elements.bpmn"
    assert {DMN, "all_elements.bpmn", "present_offer.schema.json"} <= set(found.files)
    assert versions.bundle_file(ctx, "all_elements", 1, DMN).startswith("<?xml")
    with pytest.raises(NotFound):
        versions.bundle_file(ctx, "all_elements", 1, "nope.dmn")


def test_editing_a_dmn_rule_deploys_a_new_version(ctx: Any) -> None:
    deploy(ctx, "all_elements")
    old_dmn = versions.bundle_file(ctx, "all_elements", 1, DMN)
    new_dmn = old_dmn.replace('"DISCOUNT_10"', '"DISCOUNT_15"')
    result = versions.deploy_edit(ctx, OWNER, "all_elements", 1, {DMN: new_dmn})
    assert result.created and [v.version for v in result.versions] == [2]
    assert versions.bundle_file(ctx, "all_elements", 2, DMN) == new_dmn
    # the other files are those of version 1
    one, two = (versions.version_files(ctx, "all_elements", v).files for v in (1, 2))
    assert {k: v for k, v in one.items() if k != DMN} == {k: v for k, v in two.items() if k != DMN}


def test_an_unchanged_edit_is_no_new_version(ctx: Any) -> None:
    first = deploy(ctx, "three_steps")
    xml = processes.version_xml(ctx, "three_steps", 1)
    again = versions.deploy_edit(ctx, OWNER, "three_steps", 1, {"three_steps.bpmn": xml})
    assert not again.created and again.deployment_id == first.deployment_id
    assert [v.version for v in processes.list_versions(ctx, "three_steps")] == [1]


def test_an_invalid_edit_names_the_element_and_deploys_nothing(ctx: Any) -> None:
    deploy(ctx, "three_steps")
    xml = processes.version_xml(ctx, "three_steps", 1)
    broken = xml.replace(' default="flow_declined"', "")
    with pytest.raises(InvalidProcess) as err:
        versions.validate_edit(ctx, "three_steps", 1, {"three_steps.bpmn": broken})
    assert "gw_offer_accepted" in {e["element_id"] for e in err.value.errors}
    with pytest.raises(InvalidProcess):
        versions.deploy_edit(ctx, OWNER, "three_steps", 1, {"three_steps.bpmn": broken})
    assert [v.version for v in processes.list_versions(ctx, "three_steps")] == [1]


def test_only_files_of_the_bundle_can_be_replaced(ctx: Any) -> None:
    deploy(ctx, "three_steps")
    with pytest.raises(ValidationFailed):
        versions.deploy_edit(ctx, OWNER, "three_steps", 1, {"other.bpmn": "<x/>"})


def test_running_cases_stay_on_their_version_after_an_edit(ctx: Any) -> None:
    deploy(ctx, "three_steps")
    old_case = cases.start_case(ctx, actor(), "three_steps", {})
    xml = processes.version_xml(ctx, "three_steps", 1)
    versions.deploy_edit(
        ctx,
        OWNER,
        "three_steps",
        1,
        {"three_steps.bpmn": xml.replace("Call customer", "Call the customer")},
    )
    new_case = cases.start_case(ctx, actor(), "three_steps", {})
    assert (old_case.process_version, new_case.process_version) == (1, 2)
    assert cases.get_case(ctx, old_case.id).open_tasks[0].name == "Call customer"
    assert new_case.open_tasks[0].name == "Call the customer"


def test_compare_lists_changed_files_and_elements(ctx: Any) -> None:
    deploy(ctx, "all_elements")
    dmn = versions.bundle_file(ctx, "all_elements", 1, DMN)
    bpmn = processes.version_xml(ctx, "all_elements", 1)
    versions.deploy_edit(
        ctx,
        OWNER,
        "all_elements",
        1,
        {
            DMN: dmn.replace('"DISCOUNT_10"', '"DISCOUNT_15"'),
            "all_elements.bpmn": bpmn.replace('name="Choose offer"', 'name="Pick offer"'),
        },
    )
    diff = versions.compare(ctx, "all_elements", 1, 2).model_dump()
    assert (diff["old"]["version"], diff["new"]["version"]) == (1, 2)
    assert [e["id"] for e in diff["elements"]["changed"]] == ["choose_offer"]
    status = {f["name"]: f["status"] for f in diff["files"]}
    assert status[DMN] == "changed" and status["all_elements.bpmn"] == "changed"
    assert status["present_offer.schema.json"] == "same"
    dmn_entry = next(f for f in diff["files"] if f["name"] == DMN)
    assert [e["id"] for e in dmn_entry["elements"]["changed"]] == ["rule_new_high_risk"]
    assert dmn_entry["cells"] == [
        {
            "rule_id": "rule_new_high_risk",
            "rule": 2,
            "column": "Offer code",
            "cell_id": "rule_new_high_risk_offer",
            "before": '"DISCOUNT_10"',
            "after": '"DISCOUNT_15"',
        }
    ]
    with pytest.raises(NotFound):
        versions.compare(ctx, "all_elements", 1, 3).model_dump()


def test_compare_ignores_reordered_references(ctx: Any) -> None:
    """Delete a flow and undo in the modeler: the gateway's outgoing references come
    back in another order. Same model, so compare names no element (nor the gateway)."""
    deploy(ctx, "all_elements")
    bpmn = processes.version_xml(ctx, "all_elements", 1)
    start = bpmn.index('<bpmn:exclusiveGateway id="gw_response"')
    end = bpmn.index("</bpmn:exclusiveGateway>", start)
    gateway = bpmn[start:end]
    refs = [line for line in gateway.splitlines() if "<bpmn:outgoing>" in line]
    assert len(refs) >= 2
    moved = gateway
    for line in refs:
        moved = moved.replace(line + "\n", "", 1)
    moved = moved.rstrip() + "\n" + "\n".join(reversed(refs)) + "\n    "
    versions.deploy_edit(
        ctx, OWNER, "all_elements", 1, {"all_elements.bpmn": bpmn[:start] + moved + bpmn[end:]}
    )
    diff = versions.compare(ctx, "all_elements", 1, 2).model_dump()
    assert diff["elements"] == {"added": [], "removed": [], "changed": []}
    # a real change is still seen
    changed = bpmn.replace('name="Customer response?"', 'name="Reply?"')
    versions.deploy_edit(ctx, OWNER, "all_elements", 1, {"all_elements.bpmn": changed})
    again = versions.compare(ctx, "all_elements", 1, 3).model_dump()
    assert [e["id"] for e in again["elements"]["changed"]] == ["gw_response"]


def test_check_edit_answers_problems_as_data(ctx: Any) -> None:
    deploy(ctx, "three_steps")
    xml = processes.version_xml(ctx, "three_steps", 1)
    ok = versions.check_edit(ctx, "three_steps", 1, {"three_steps.bpmn": xml}).model_dump()
    assert ok == {"valid": True, "errors": [], "processes": ["three_steps"]}
    bad = versions.check_edit(
        ctx, "three_steps", 1, {"three_steps.bpmn": xml.replace(' default="flow_declined"', "")}
    ).model_dump()
    assert not bad["valid"] and "gw_offer_accepted" in {e["element_id"] for e in bad["errors"]}


def test_catalogue_groups_processes_by_their_bundle(ctx: Any) -> None:
    deploy(ctx, "three_steps")
    deploy(ctx, "all_elements")
    bundles = [b.model_dump() for b in versions.catalogue(ctx)]
    assert {tuple(p["process_id"] for p in b["processes"]) for b in bundles} == {
        ("three_steps",),
        ("all_elements",),
    }
    by_anchor = {b["anchor"]["process_id"]: b for b in bundles}
    assert by_anchor["all_elements"]["decisions"] == [DMN]
    assert by_anchor["three_steps"]["decisions"] == []


def test_a_problem_is_reported_once() -> None:
    same = {"file": "d.dmn", "element_id": "rule_1", "message": "Malformed"}
    other = {**same, "element_id": "rule_2"}
    exc = InvalidProcess("invalid", errors=[same, dict(same), other, dict(same)])
    assert processes.invalid_report(exc).model_dump()["errors"] == [same, other]
    assert processes.invalid_report(InvalidProcess("empty")).model_dump()["errors"] == [
        {"file": None, "element_id": None, "message": "empty"}
    ]
