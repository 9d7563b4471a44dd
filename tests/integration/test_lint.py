"""The bundle lint (``retention-flow lint``, ``processes.lint``): the product's bundles are
clean, and each convention rule reports a diagram that breaks it, naming the file and
the element (the shape validation answers in). Each case below breaks one rule of the
clean retention bundle."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from retention_flow.services.platform.context import AppContext
from retention_flow.services.process_models import deployments as processes
from retention_flow.services.process_models.bundles import load_path

PROCESSES = Path(__file__).resolve().parents[2] / "processes"
OT = "outbound_telemarketing.bpmn"
MAIL = "mail_response.bpmn"
SP = "sales_partner.bpmn"
DMN = "offer_eligibility.dmn"
FORM = "call_customer.schema.json"


def _drop(pattern: str) -> tuple[str, str]:
    return (pattern, "")


#: (case, file, regular expression, replacement, file reported, element, message part)
RULES: list[tuple[str, str, str, str, str, str | None, str]] = [
    (
        "id twice",
        OT,
        r"<bpmn:documentation>Books the",
        '<bpmn:documentation id="book_change">Books the',
        OT,
        "book_change",
        "id is used 2 times",
    ),
    (
        "message without name",
        MAIL,
        r'(<bpmn:message id="response_form_received") name="[^"]*"',
        r"\1",
        MAIL,
        "response_form_received",
        "message has no name",
    ),
    (
        "two participants",
        OT,
        r"(<bpmn:participant [^>]*/>)",
        r'\1<bpmn:participant id="other" name="Other" processRef="outbound_telemarketing" />',
        OT,
        None,
        "one process, one collaboration and one participant per file",
    ),
    (
        "participant without name",
        OT,
        r'(<bpmn:participant id="participant_outbound_telemarketing") name="[^"]*"',
        r"\1",
        OT,
        "participant_outbound_telemarketing",
        "participant has no name",
    ),
    (
        "participant of another process",
        OT,
        r'processRef="outbound_telemarketing"',
        'processRef="elsewhere"',
        OT,
        "participant_outbound_telemarketing",
        "does not reference the file's process",
    ),
    (
        "process not executable",
        OT,
        r'isExecutable="true"',
        'isExecutable="false"',
        OT,
        "outbound_telemarketing",
        "process is not executable",
    ),
    (
        "process without name",
        OT,
        r'(<bpmn:process id="outbound_telemarketing") name="[^"]*"',
        r"\1",
        OT,
        "outbound_telemarketing",
        "process has no name",
    ),
    (
        "process without documentation",
        OT,
        *_drop(r"<bpmn:documentation>A customer at risk.*?</bpmn:documentation>"),
        OT,
        "outbound_telemarketing",
        "process has no documentation",
    ),
    (
        "node without name",
        OT,
        r'(<bpmn:scriptTask id="count_attempt") name="[^"]*"',
        r"\1",
        OT,
        "count_attempt",
        "scriptTask has no name",
    ),
    (
        "node without documentation",
        OT,
        *_drop(r"<bpmn:documentation>Counts the unsuccessful.*?</bpmn:documentation>"),
        OT,
        "count_attempt",
        "scriptTask has no bpmn:documentation",
    ),
    (
        "no lanes",
        OT,
        *_drop(r"<bpmn:laneSet .*?</bpmn:laneSet>"),
        OT,
        "outbound_telemarketing",
        "process has no lanes",
    ),
    (
        "lane names no flow node",
        OT,
        r"(<bpmn:flowNodeRef>end_via_mail</bpmn:flowNodeRef>)",
        r"\1<bpmn:flowNodeRef>ghost</bpmn:flowNodeRef>",
        OT,
        "lane_back_office",
        "flowNodeRef 'ghost' is not a flow node",
    ),
    (
        "node in no lane",
        OT,
        *_drop(r"<bpmn:flowNodeRef>count_attempt</bpmn:flowNodeRef>"),
        OT,
        "count_attempt",
        "flow node is in 0 lanes",
    ),
    (
        "default flow missing",
        OT,
        r'default="flow_to_call"',
        'default="flow_nowhere"',
        OT,
        "merge_call",
        "default flow 'flow_nowhere' does not exist",
    ),
    (
        "choice not named",
        OT,
        r'(<bpmn:sequenceFlow id="flow_accepted") name="[^"]*"',
        r"\1",
        OT,
        "gw_call_result",
        "flows leaving a deciding gateway must be named: ['flow_accepted']",
    ),
    (
        "unknown property",
        OT,
        r'(<spiffworkflow:property name="priority" value="50" />)',
        r'\1<spiffworkflow:property name="colour" value="red" />',
        OT,
        "call_customer",
        "unknown user task property 'colour'",
    ),
    (
        "user task without form",
        OT,
        *_drop(
            r'<spiffworkflow:property name="formJsonSchemaFilename" '
            r'value="call_customer.schema.json" />'
        ),
        OT,
        "call_customer",
        "user task has no formJsonSchemaFilename",
    ),
    (
        "user task without due",
        OT,
        r'(value="escalate_overdue_call.schema.json" />)\s*'
        r'<spiffworkflow:property name="due" value="PT1H" />',
        r"\1",
        OT,
        "escalate_overdue_call",
        "user task has no due",
    ),
    (
        "user task without priority",
        OT,
        *_drop(r'<spiffworkflow:property name="priority" value="80" />'),
        OT,
        "escalate_overdue_call",
        "user task has no priority",
    ),
    (
        "four eyes with nobody",
        SP,
        r'name="fourEyesWith" value="work_lead"',
        'name="fourEyesWith" value="nobody"',
        SP,
        "validate_claim",
        "fourEyesWith 'nobody' is not a user task here",
    ),
    (
        "partner variable outside the partner lane",
        OT,
        r'(<spiffworkflow:property name="priority" value="50" />)',
        r'\1<spiffworkflow:property name="partnerVariable" value="partner" />',
        OT,
        "call_customer",
        "partnerVariable on a task outside the partner lane",
    ),
    (
        "service task without operator",
        OT,
        *_drop(
            r'<spiffworkflow:serviceTaskOperator id="book_contract_change"'
            r".*?</spiffworkflow:serviceTaskOperator>"
        ),
        OT,
        "book_change",
        "service task has no spiffworkflow:serviceTaskOperator",
    ),
    (
        "service task without result",
        OT,
        r' resultVariable="booking"',
        "",
        OT,
        "book_change",
        "service task has no resultVariable",
    ),
    (
        "service parameters",
        OT,
        *_drop(r'<spiffworkflow:parameter id="offer_code" type="str" value="offer_code" />'),
        OT,
        "book_change",
        "book_contract_change takes exactly ['case_number', 'customer_id', 'offer_code'], "
        "got ['case_number', 'customer_id']",
    ),
    (
        "letter kind not a literal",
        OT,
        r"value='\"confirmation\"'",
        'value="kind"',
        OT,
        "send_confirmation",
        "write_letter kind must be a literal of",
    ),
    (
        "churn risk not a literal",
        "outbound_campaign.bpmn",
        r"(id=\"min_churn_risk\" type=\"str\" value=)'\"high\"'",
        r"""\1'"highest"'""",
        "outbound_campaign.bpmn",
        "queue_campaign_batch",
        "enqueue_campaign_batch min_churn_risk must be a literal of ['high', 'low', 'medium']",
    ),
    (
        "message not declared",
        MAIL,
        r'messageRef="response_form_received"',
        'messageRef="nothing"',
        MAIL,
        "form_received",
        "messageRef 'nothing' does not exist",
    ),
    (
        "message payload dropped",
        MAIL,
        *_drop(
            r"<bpmn:extensionElements>\s*<spiffworkflow:messageVariable>response_form</spiffworkflow:messageVariable>\s*</bpmn:extensionElements>"
        ),
        MAIL,
        "form_received",
        "message catch without spiffworkflow:messageVariable drops the payload",
    ),
    (
        "end without outcome",
        OT,
        r'outcome = "retained"',
        'kept = "retained"',
        OT,
        "end_retained",
        "no script that sets 'outcome' on the way to this end event",
    ),
    (
        "node without shape",
        OT,
        *_drop(r'<bpmndi:BPMNShape id="count_attempt_di".*?</bpmndi:BPMNShape>'),
        OT,
        "count_attempt",
        "no BPMNShape with bounds in the diagram",
    ),
    (
        "flow without edge",
        OT,
        *_drop(r'<bpmndi:BPMNEdge id="flow_start_di".*?</bpmndi:BPMNEdge>'),
        OT,
        "flow_start",
        "no BPMNEdge with waypoints in the diagram",
    ),
    (
        "edge off its source",
        OT,
        r'<di:waypoint x="278" y="435" />',
        '<di:waypoint x="300" y="435" />',
        OT,
        "flow_start",
        "edge does not start on the border of start_outbound",
    ),
    (
        "edge off its target",
        OT,
        r'<di:waypoint x="360" y="435" />',
        '<di:waypoint x="380" y="435" />',
        OT,
        "flow_start",
        "edge does not end on the border of prepare_outbound",
    ),
    (
        "edge through a shape",
        OT,
        r'<di:waypoint x="360" y="435" />',
        '<di:waypoint x="660" y="435" />',
        OT,
        "flow_start",
        "edge runs through choose_offer",
    ),
    (
        "shapes overlap",
        OT,
        r'(bpmnElement="choose_offer">\s*<dc:Bounds) x="510"',
        r'\1 x="420"',
        OT,
        "choose_offer",
        "shape overlaps prepare_outbound",
    ),
    (
        "boundary event off its activity",
        OT,
        r'(bpmnElement="call_overdue">\s*<dc:Bounds x="1017") y="377"',
        r'\1 y="300"',
        OT,
        "call_overdue",
        "boundary event is not on the border of its activity",
    ),
    (
        "shape outside its lane",
        OT,
        r'(bpmnElement="escalate_overdue_call">\s*<dc:Bounds x="960") y="115"',
        r'\1 y="300"',
        OT,
        "escalate_overdue_call",
        "shape is outside its lane lane_team_lead",
    ),
    (
        "decision without shape",
        DMN,
        *_drop(r"<dmndi:DMNShape .*?</dmndi:DMNShape>"),
        DMN,
        "offer_eligibility",
        "decision has no DMNShape (DMNDI)",
    ),
    (
        "hit policy",
        DMN,
        r'hitPolicy="COLLECT"',
        'hitPolicy="FIRST"',
        DMN,
        "offer_eligibility",
        "decision table must use hit policy COLLECT",
    ),
    (
        "rule without description",
        DMN,
        *_drop(
            r"<description>Loyal high-value mobile customer at high risk: new handset</description>"
        ),
        DMN,
        "rule_new_device_loyal_high_value",
        "rule has no description",
    ),
    (
        "form draft",
        FORM,
        r"https://json-schema.org/draft/2020-12/schema",
        "http://json-schema.org/draft-07/schema#",
        FORM,
        None,
        "$schema must be draft 2020-12",
    ),
    (
        "form open",
        FORM,
        r'"additionalProperties": false',
        '"additionalProperties": true',
        FORM,
        None,
        "form must be type object with additionalProperties false",
    ),
    ("form without title", FORM, r'"title": "Call customer",', "", FORM, None, "form has no title"),
    (
        "form without description",
        FORM,
        r'"description": "Result of one call attempt[^"]*",',
        "",
        FORM,
        None,
        "form has no description",
    ),
    (
        "required not a property",
        FORM,
        r'"required": \[\s*"reached"',
        '"required": ["reachd"',
        FORM,
        None,
        "required 'reachd' is not a property",
    ),
    (
        "property without title",
        FORM,
        r'"title": "Customer reached",',
        "",
        FORM,
        None,
        "property reached has no title",
    ),
    (
        "enum not the choices",
        FORM,
        r'"const": "accepted"',
        '"const": "agreed"',
        FORM,
        None,
        "property call_outcome: enum must equal the titled oneOf consts",
    ),
    (
        "channel of no process",
        "bundle.json",
        r'"channel": \{',
        '"channel": {"ghost": "outbound",',
        "bundle.json",
        None,
        "channel for unknown process 'ghost'",
    ),
    (
        "defaults of no role",
        "bundle.json",
        r'"defaults": \{',
        '"defaults": {"pirates": {},',
        "bundle.json",
        None,
        "defaults for unknown role 'pirates'",
    ),
]


@pytest.fixture(scope="module")
def retention() -> dict[str, bytes]:
    return load_path(PROCESSES / "retention")


def _found(ctx: AppContext, files: dict[str, bytes]) -> list[tuple[str | None, str | None, str]]:
    result = processes.lint(ctx, files)
    return [(i.file, i.element_id, i.message) for i in result.issues]


@pytest.mark.parametrize("bundle", ["retention", "intake"])
def test_the_product_bundles_are_clean(product_ctx: AppContext, bundle: str) -> None:
    assert _found(product_ctx, load_path(PROCESSES / bundle)) == []


@pytest.mark.parametrize(
    ("file", "pattern", "replacement", "reported", "element", "message"),
    [pytest.param(*rule[1:], id=rule[0]) for rule in RULES],
)
def test_each_rule_names_the_element(
    product_ctx: AppContext,
    retention: dict[str, bytes],
    file: str,
    pattern: str,
    replacement: str,
    reported: str,
    element: str | None,
    message: str,
) -> None:
    text = retention[file].decode()
    broken, count = re.subn(pattern, replacement, text, count=1, flags=re.DOTALL)
    assert count == 1, "the clean bundle no longer has what this case breaks"
    found = _found(product_ctx, {**retention, file: broken.encode()})
    assert any(f == reported and e == element and message in m for f, e, m in found), found


def test_a_file_named_after_another_process(
    product_ctx: AppContext, retention: dict[str, bytes]
) -> None:
    files = {k: v for k, v in retention.items() if k != OT} | {"outbound.bpmn": retention[OT]}
    assert ("outbound.bpmn", None, "the file must be named after its process id") in _found(
        product_ctx, files
    )


def test_forms_unused_or_broken(product_ctx: AppContext, retention: dict[str, bytes]) -> None:
    spare = {
        "spare.schema.json": retention[FORM],
        "broken.schema.json": b'{"type": 3, "required": "x"}',
    }
    found = _found(product_ctx, {**retention, **spare})
    assert ("spare.schema.json", None, "form is not used by any user task") in found
    broken = [m for f, _e, m in found if f == "broken.schema.json"]
    assert sum("not a valid JSON Schema at" in m for m in broken) >= 2, broken


def test_the_modeler_validation_lists_the_warnings(
    product_ctx: AppContext, retention: dict[str, bytes]
) -> None:
    broken = retention[OT].replace(b'isExecutable="true"', b'isExecutable="false"')
    report = processes.validation_report(
        product_ctx, {**retention, OT: broken}, warnings=True
    ).model_dump()
    assert report["valid"] is True
    assert {
        "file": OT,
        "element_id": "outbound_telemarketing",
        "message": "process is not executable",
    } in report["warnings"]


def _cli(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "retention_flow.cli", "lint", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "RETENTION_FLOW_DATABASE_URL": db_url},
        timeout=120,
        check=False,
    )


def _reports(stdout: str) -> list[dict[str, object]]:
    decoder, out, at = json.JSONDecoder(), [], 0
    while stdout[at:].strip():
        at += len(stdout[at:]) - len(stdout[at:].lstrip())
        report, at = decoder.raw_decode(stdout, at)
        out.append(report)
    return out


def test_the_command_lints_folders_of_bundles(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/lint.db"
    clean = _cli(url, str(PROCESSES))
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert [r["bundle"] for r in _reports(clean.stdout)] == [
        str(PROCESSES / "intake"),
        str(PROCESSES / "retention"),
    ]
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    for name, content in load_path(PROCESSES / "retention").items():
        (bundle / name).write_bytes(content)
    text = (bundle / DMN).read_text().replace('hitPolicy="COLLECT"', 'hitPolicy="FIRST"')
    (bundle / DMN).write_text(text)
    dirty = _cli(url, str(bundle))
    assert dirty.returncode == 1
    [report] = _reports(dirty.stdout)
    assert report["errors"] == []
    assert report["warnings"] == [
        {
            "file": DMN,
            "element_id": "offer_eligibility",
            "message": "decision table must use hit policy COLLECT",
        }
    ]
    assert _cli(url, "--errors-only", str(bundle)).returncode == 0
