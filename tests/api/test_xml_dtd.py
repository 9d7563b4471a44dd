"""XML with a DTD or an entity is refused wherever the declaration stands (after 4 KB
or 1 MB of comment, after the root), in BPMN and DMN uploads (the modeler's edits:
tests/web/test_owner_xml.py); the words ``<!DOCTYPE`` in a comment or CDATA are only
text."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from retention_flow.services.platform.context import AppContext
from retention_flow.services.process_models import deployments as processes
from tests.api.conftest import assert_problem
from tests.factories import bundle_files

Headers = dict[str, dict[str, str]]
DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'


def _comment(size: int) -> str:
    return "<!--" + ("padding " * (size // 8 + 1))[:size] + "-->\n"


def _before_root(padding: int, doctype: str) -> Callable[[str], str]:
    """Put ``padding`` characters of comment and then ``doctype`` before the root."""

    def edit(xml: str) -> str:
        assert xml.startswith(DECLARATION)
        return DECLARATION + "\n" + _comment(padding) + doctype + "\n" + xml[len(DECLARATION) :]

    return edit


def _after_root(doctype: str) -> Callable[[str], str]:
    return lambda xml: xml.rstrip() + "\n" + doctype + "\n"


SYSTEM = '<!DOCTYPE definitions SYSTEM "file:///etc/passwd">'
SUBSET = '<!DOCTYPE definitions [<!ENTITY who SYSTEM "file:///etc/hostname">]>'
PUBLIC = '<!DOCTYPE definitions PUBLIC "-//X//DTD X//EN" "http://example.invalid/x.dtd">'
HOSTILE: dict[str, Callable[[str], str]] = {
    "doctype after 4 KB of comment": _before_root(4200, SYSTEM),
    "doctype after 1 MB of comment": _before_root(1024 * 1024, SYSTEM),
    "entity subset after 4 KB of comment": _before_root(4200, SUBSET),
    "public id after 5000 characters of comment": _before_root(5000, PUBLIC),
    "doctype after the root": _after_root("<!DOCTYPE definitions>"),
    "doctype after the root and 4 KB": _after_root(_comment(4200) + SYSTEM),
}


def _post(client: TestClient, path: str, files: dict[str, bytes], auth: dict[str, str]) -> Any:
    multipart = [("files", (n, b, "application/octet-stream")) for n, b in files.items()]
    return client.post(path, files=multipart, headers=auth)


@pytest.mark.parametrize(
    "bundle,target", [("three_steps", "three_steps.bpmn"), ("all_elements", "offer_decision.dmn")]
)
@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_uploads_with_a_dtd_anywhere_are_refused(
    ctx: AppContext, client: TestClient, headers: Headers, bundle: str, target: str, case: str
) -> None:
    files = bundle_files(bundle)
    files[target] = HOSTILE[case](files[target].decode()).encode()
    owner = headers["process_owner"]
    checked = _post(client, "/api/processes/validate", files, owner)
    assert checked.status_code == 200 and checked.json()["valid"] is False, checked.text
    problems = checked.json()["errors"]
    assert [p["file"] for p in problems] == [target]
    assert "DOCTYPE and entity declarations are not allowed" in problems[0]["message"]
    body = assert_problem(_post(client, "/api/processes", files, owner), 422, "invalid_process")
    assert target in body["detail"]
    assert processes.list_versions(ctx) == []


def test_doctype_words_in_comments_and_cdata_are_text(
    ctx: AppContext, client: TestClient, headers: Headers
) -> None:
    """The baseline: the same bundle with the words in a comment (after 4 KB) and in a
    task's documentation (CDATA) deploys; only a real declaration is refused."""
    files = bundle_files("three_steps")
    xml = files["three_steps.bpmn"].decode()
    xml = _before_root(4200, "<!-- <!DOCTYPE definitions> and <!ENTITY x 'y'> -->")(xml)
    task = '<bpmn:userTask id="call_customer" name="Call customer">'
    assert task in xml
    xml = xml.replace(
        task,
        task + "<bpmn:documentation><![CDATA[<!DOCTYPE x [<!ENTITY y 'z'>]>]]>"
        "</bpmn:documentation>",
    )
    files["three_steps.bpmn"] = xml.encode()
    deployed = _post(client, "/api/processes", files, headers["process_owner"])
    assert deployed.status_code == 201, deployed.text
