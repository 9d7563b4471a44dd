"""The process owner's pages over HTTP: the model list, the editors' JSON endpoints
(validate, deploy with one file replaced, CSRF checked) and the version compare."""

from __future__ import annotations

import json
import re
from typing import Any

from retention_flow.services.platform.context import AppContext
from retention_flow.services.process_models import deployments as processes
from retention_flow.services.process_models import versions
from tests.factories import OWNER, deploy
from tests.web.conftest import PageClient

DMN = "offer_decision.dmn"
BASE = "/processes/all_elements/1"


def _post_json(page: PageClient, url: str, payload: dict[str, Any], token: bool = True) -> Any:
    headers = {"X-CSRF-Token": page.token} if token else {}
    return page.client.post(url, json=payload, headers=headers, follow_redirects=False)


def test_model_list_links_versions_and_decision_tables(
    ctx: AppContext, pages: dict[str, PageClient]
) -> None:
    deploy(ctx, "all_elements")
    html = pages["process_owner"].get("/processes").text
    assert 'href="/processes/all_elements/1"' in html
    assert f'href="{BASE}/dmn/{DMN}"' in html
    assert 'href="/processes"' in html and "Processes" in html  # in the navigation


def test_editor_pages_point_at_their_file(ctx: AppContext, pages: dict[str, PageClient]) -> None:
    deploy(ctx, "all_elements")
    owner = pages["process_owner"]
    modeler = owner.get(BASE).text
    assert f'data-xml-url="{BASE}/files/all_elements.bpmn"' in modeler
    assert "retention-modeler.min.js" in modeler and 'id="properties"' in modeler
    dmn = owner.get(f"{BASE}/dmn/{DMN}").text
    assert f'data-xml-url="{BASE}/files/{DMN}"' in dmn and "dmn-modeler" in dmn
    xml = owner.get(f"{BASE}/files/{DMN}")
    assert xml.headers["content-type"].startswith("application/xml")
    assert xml.text == versions.bundle_file(ctx, "all_elements", 1, DMN)
    assert owner.get(f"{BASE}/dmn/all_elements.bpmn").status_code == 404
    assert owner.get(f"{BASE}/files/nope.dmn").status_code == 404


def test_validate_names_the_element(ctx: AppContext, pages: dict[str, PageClient]) -> None:
    deploy(ctx, "three_steps")
    owner = pages["process_owner"]
    xml = processes.version_xml(ctx, "three_steps", 1)
    url = "/processes/three_steps/1/validate"
    ok = _post_json(owner, url, {"files": {"three_steps.bpmn": xml}})
    assert ok.status_code == 200 and ok.json()["valid"] is True
    broken = xml.replace(' default="flow_declined"', "")
    bad = _post_json(owner, url, {"files": {"three_steps.bpmn": broken}}).json()
    assert bad["valid"] is False
    assert "gw_offer_accepted" in {e["element_id"] for e in bad["errors"]}


def test_deploy_replaces_one_file_and_checks_csrf(
    ctx: AppContext, pages: dict[str, PageClient]
) -> None:
    deploy(ctx, "all_elements")
    owner = pages["process_owner"]
    dmn = versions.bundle_file(ctx, "all_elements", 1, DMN).replace("DISCOUNT_10", "DISCOUNT_15")
    url = f"{BASE}/deploy"
    refused = _post_json(owner, url, {"files": {DMN: dmn}}, token=False)
    assert refused.status_code == 403
    assert [v.version for v in processes.list_versions(ctx, "all_elements")] == [1]

    made = _post_json(owner, url, {"files": {DMN: dmn}})
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["created"] and body["url"] == "/processes/all_elements/2"
    assert "version 2" in body["message"]
    assert "DISCOUNT_15" in versions.bundle_file(ctx, "all_elements", 2, DMN)

    again = _post_json(owner, "/processes/all_elements/2/deploy", {"files": {DMN: dmn}})
    assert again.status_code == 200 and again.json()["created"] is False

    broken = _post_json(owner, url, {"files": {DMN: "<definitions"}})
    assert broken.status_code == 422 and broken.json()["errors"][0]["file"] == DMN


def test_compare_lists_and_marks_the_changes(ctx: AppContext, pages: dict[str, PageClient]) -> None:
    deploy(ctx, "all_elements")
    bpmn = processes.version_xml(ctx, "all_elements", 1)
    versions.deploy_edit(
        ctx,
        OWNER,
        "all_elements",
        1,
        {"all_elements.bpmn": bpmn.replace('name="Choose offer"', 'name="Pick offer"')},
    )
    html = pages["process_owner"].get("/processes/all_elements/compare?old=1&new=2").text
    assert 'data-change="changed" data-element-id="choose_offer"' in html
    marks = re.search(r'id="diagram-marks">(.*?)</script>', html, re.S)
    assert marks and '"choose_offer"' in marks.group(1)
    assert 'data-xml-url="/processes/all_elements/2/files/all_elements.bpmn"' in html


def test_compare_shows_removed_elements_on_the_old_version(
    ctx: AppContext, pages: dict[str, PageClient]
) -> None:
    deploy(ctx, "three_steps")
    base = processes.version_xml(ctx, "three_steps", 1)
    note = '<bpmn:textAnnotation id="note_1"><bpmn:text>ask twice</bpmn:text></bpmn:textAnnotation>'
    with_note = base.replace("</bpmn:process>", note + "</bpmn:process>")
    renamed = base.replace("Call customer", "Call the customer")
    for xml in (with_note, renamed):  # v2 adds the note, v3 drops it and renames a task
        versions.deploy_edit(ctx, OWNER, "three_steps", 1, {"three_steps.bpmn": xml})
    url = "/processes/three_steps/compare?old=2&new=3"
    new_side = pages["process_owner"].get(url).text
    assert 'data-xml-url="/processes/three_steps/3/files/three_steps.bpmn"' in new_side
    found = re.search(r'id="diagram-marks">(.*?)</script>', new_side, re.S)
    assert found is not None
    marks = json.loads(found.group(1))
    assert [e["id"] for e in marks["changed"]] == ["call_customer"]
    old_side = pages["process_owner"].get(url + "&show=old").text
    assert 'data-xml-url="/processes/three_steps/2/files/three_steps.bpmn"' in old_side
    found = re.search(r'id="diagram-marks">(.*?)</script>', old_side, re.S)
    assert found is not None
    marks = json.loads(found.group(1))
    assert marks == {"removed": [{"id": "note_1", "type": "textAnnotation", "name": None}]}


def test_model_list_counts_open_incidents_per_version(
    ctx: AppContext, pages: dict[str, PageClient]
) -> None:
    from retention_flow.services.cases import lifecycle as cases
    from tests.factories import actor, bundle_files

    deploy(ctx, "three_steps")
    files = bundle_files("three_steps")
    files["three_steps.bpmn"] = files["three_steps.bpmn"].replace(b"score = 42", b"score = 1 // d")
    processes.deploy(ctx, files, OWNER)
    for _ in range(2):
        cases.start_case(ctx, actor("a", "agent", "telemarketing"), "three_steps", {"d": 0})
    html = pages["process_owner"].get("/processes").text
    assert re.search(r'data-version="2"[^>]*>v2: 2<', html), html
    assert 'data-version="1"' not in html  # no incident on version 1
