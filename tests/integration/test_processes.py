"""Deployment: validation names file, element and problem; versions are immutable;
identical content is no new version; hostile XML is refused; specs parsed once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlmodel import col

from retention_flow.core.errors import InvalidProcess, NotFound
from retention_flow.db.models import Deployment, ProcessVersion
from retention_flow.db.session import read_session
from retention_flow.engine.bundle import load_bundle_path
from retention_flow.engine.compiler import compile_bundle
from retention_flow.services.audit import trail as audit
from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.process_models import deployments as processes
from tests.factories import DATA, OWNER, actor, bundle_files, deploy

INVALID = sorted(p for p in (DATA / "invalid").iterdir() if p.is_dir())
VALID = ["three_steps", "all_elements", "message_wait", "timers", "no_lanes", "call_activity"]


@pytest.mark.parametrize("name", VALID)
def test_valid_bundles_deploy(ctx: Any, name: str) -> None:
    result = deploy(ctx, name)
    assert result.created and result.versions
    assert all(v.version == 1 for v in result.versions)


@pytest.mark.parametrize("folder", INVALID, ids=[p.name for p in INVALID])
def test_invalid_bundle_is_refused_with_its_element(ctx: Any, folder: Path) -> None:
    expected_where = (folder / "EXPECTED.txt").read_text().split(":", 1)[0].strip()
    with pytest.raises(InvalidProcess) as err:
        processes.deploy(ctx, load_bundle_path(folder), OWNER)
    places = {e["element_id"] for e in err.value.errors} | {e["file"] for e in err.value.errors}
    assert expected_where in places, err.value.errors
    assert all(e["message"] for e in err.value.errors)
    with read_session(ctx.db) as session:
        assert session.execute(select(func.count()).select_from(Deployment)).scalar_one() == 0


def test_identical_content_is_not_a_new_version(ctx: Any) -> None:
    first = deploy(ctx, "three_steps")
    again = deploy(ctx, "three_steps")
    assert not again.created and again.deployment_id == first.deployment_id
    files = bundle_files("three_steps")
    files["three_steps.bpmn"] = files["three_steps.bpmn"].replace(
        b"Prepare case", b"Prepare the case"
    )
    changed = processes.deploy(ctx, files, OWNER)
    assert changed.created and changed.versions[0].version == 2
    assert [v.version for v in processes.list_versions(ctx, "three_steps")] == [1, 2]
    xml = processes.version_xml(ctx, "three_steps", 2)
    assert "Prepare the case" in xml
    with pytest.raises(NotFound):
        processes.version_xml(ctx, "three_steps", 3)


def test_running_cases_stay_on_their_version(ctx: Any) -> None:
    deploy(ctx, "three_steps")
    old_case = cases.start_case(ctx, actor(), "three_steps", {})
    files = bundle_files("three_steps")
    files["three_steps.bpmn"] = files["three_steps.bpmn"].replace(
        b"Call customer", b"Call the customer"
    )
    processes.deploy(ctx, files, OWNER)
    new_case = cases.start_case(ctx, actor(), "three_steps", {})
    assert old_case.process_version == 1 and new_case.process_version == 2
    assert old_case.open_tasks[0].name == "Call customer"
    assert new_case.open_tasks[0].name == "Call the customer"
    ctx.live.clear()  # restore from the database, on the old spec
    assert cases.get_case(ctx, old_case.id).open_tasks[0].name == "Call customer"


def test_deployment_is_audited(ctx: Any) -> None:
    deploy(ctx, "three_steps")
    with read_session(ctx.db) as session:
        events = audit.history(session, audit.SYSTEM_STREAM)
        assert [e.type for e in events] == ["process_deployed"]
        assert events[0].actor == OWNER.username
        assert audit.verify(session).ok


def test_spec_parsed_once_per_version(ctx: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    deploy(ctx, "three_steps")
    calls: list[int] = []
    original = compile_bundle  # what deployments calls, by the name patched below

    def counted(*a: Any, **k: Any) -> Any:
        calls.append(1)
        return original(*a, **k)

    monkeypatch.setattr(processes, "compile_bundle", counted)
    ctx.specs._items.clear()  # as in a freshly started process
    for _ in range(5):
        cases.start_case(ctx, actor(), "three_steps", {})
    assert len(calls) == 1


XXE = b"""<?xml version="1.0"?>
<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">
<bpmn:process id="p" isExecutable="true"><bpmn:startEvent id="s" name="&x;"/></bpmn:process>
</bpmn:definitions>"""
LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">
<bpmn:process id="p" isExecutable="true"><bpmn:startEvent id="s" name="&lol3;"/></bpmn:process>
</bpmn:definitions>"""


@pytest.mark.parametrize(
    ("files", "needle"),
    [
        ({"x.bpmn": XXE}, "DOCTYPE"),
        ({"x.bpmn": LAUGHS}, "DOCTYPE"),
        ({"x.bpmn": b"\x89PNG\r\n\x1a\n\x00\x00garbage"}, "UTF-8"),
        ({"x.bpmn": b"<not-closed>"}, "well-formed"),
        ({"x.exe": b"MZ"}, "unsupported"),
        ({}, "empty"),
        ({"only.schema.json": b"{}"}, "type"),
        ({"notes.json": b"{}"}, "unsupported"),
    ],
    ids=[
        "xxe",
        "billion-laughs",
        "binary",
        "malformed",
        "wrong-type",
        "empty",
        "no-bpmn",
        "stray-json",
    ],
)
def test_hostile_or_broken_uploads_are_refused(
    ctx: Any, files: dict[str, bytes], needle: str
) -> None:
    with pytest.raises(InvalidProcess) as err:
        processes.validate(ctx, files)
    text = err.value.detail + " ".join(e["message"] for e in err.value.errors)
    assert needle.lower() in text.lower()
    assert "root:" not in text  # /etc/passwd never leaks into a message


def test_unknown_service_is_refused(ctx: Any) -> None:
    files = bundle_files("all_elements")
    files["all_elements.bpmn"] = files["all_elements.bpmn"].replace(
        b'id="book_contract_change"', b'id="book_contract_chaneg"'
    )
    with pytest.raises(InvalidProcess) as err:
        processes.validate(ctx, files)
    assert any("book_contract_chaneg" in e["message"] for e in err.value.errors)


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        (b'<text>"LOYALTY_20"</text>', b'<text>open("/etc/passwd").read()</text>', "output entry"),
        (b"<text>&gt;= 24</text>", b"<text>__import__('os').getpid() &gt; 0</text>", "input entry"),
        (b"<text>&gt;= 24</text>", b"<text>&gt;= ().__class__.__base__</text>", "input entry"),
    ],
    ids=["output-open", "input-import", "input-dunder"],
)
def test_hostile_decision_table_cells_are_refused_at_deploy(
    ctx: Any, old: bytes, new: bytes, where: str
) -> None:
    """A DMN cell runs in the script sandbox; deploying one it would refuse is refused,
    once, against the DMN file and the cell's own id (what the DMN editor marks), naming
    the table, the rule and the entry; nothing is listed against the BPMN task."""
    files = bundle_files("all_elements")
    assert old in files["offer_decision.dmn"]
    files["offer_decision.dmn"] = files["offer_decision.dmn"].replace(old, new, 1)
    with pytest.raises(InvalidProcess) as err:
        processes.validate(ctx, files)
    [problem] = err.value.errors
    cell = (
        "rule_loyal_high_risk_offer" if where == "output entry" else "rule_loyal_high_risk_tenure"
    )
    assert problem["file"] == "offer_decision.dmn" and problem["element_id"] == cell
    assert "decision table" in problem["message"] and where in problem["message"]
    assert "rule" in problem["message"]


@pytest.mark.parametrize(
    ("flow", "element", "missing"),
    [
        ("flow_accepted", "merge_booking", None),
        ("flow_booked", "book_change", "no outgoing"),
        ("flow_to_booking", "book_change", "no incoming"),
    ],
)
def test_disconnected_elements_are_refused_with_the_element(
    ctx: Any, flow: str, element: str, missing: str | None
) -> None:
    """Deleting a flow leaves its ends disconnected: refused, naming the element (a
    merge that still has another incoming flow stays valid)."""
    files = bundle_files("all_elements")
    text = files["all_elements.bpmn"].decode()
    start = text.index(f'<bpmn:sequenceFlow id="{flow}"')
    close = text.index(">", start)
    end = close + 1 if text[close - 1] == "/" else text.index("</bpmn:sequenceFlow>", start) + 20
    files["all_elements.bpmn"] = (text[:start] + text[end:]).encode()
    if missing is None:
        processes.validate(ctx, files)
        return
    with pytest.raises(InvalidProcess) as err:
        processes.validate(ctx, files)
    mine = [e for e in err.value.errors if e["element_id"] == element]
    assert mine and missing in mine[0]["message"] and "not connected" in mine[0]["message"]


def test_versions_listed(ctx: Any) -> None:
    deploy(ctx, "call_activity")
    with read_session(ctx.db) as session:
        ids = set(session.execute(select(col(ProcessVersion.process_id))).scalars())
    assert ids == {"call_activity_parent", "call_activity_child"}


def test_a_malformed_cell_of_a_table_called_three_times_is_one_problem_at_the_cell(
    ctx: Any,
) -> None:
    """The retention bundle calls offer_eligibility from three tasks: SpiffWorkflow reports
    a malformed cell once per task; the owner sees it once, at the cell."""
    files = dict(load_bundle_path(DATA.parents[1] / "processes" / "retention"))
    old = b'<text>"NEW_DEVICE"</text>'
    assert old in files["offer_eligibility.dmn"]
    files["offer_eligibility.dmn"] = files["offer_eligibility.dmn"].replace(
        old, b'<text>"DISCOUNT_20" +</text>', 1
    )
    with pytest.raises(InvalidProcess) as err:
        processes.validate(ctx, files)
    # (the test context's service handlers are not the product's: those are named too)
    [problem] = [e for e in err.value.errors if "unknown service" not in e["message"]]
    assert problem["file"] == "offer_eligibility.dmn"
    assert problem["element_id"] == "rule_new_device_loyal_high_value_offer_hits"
