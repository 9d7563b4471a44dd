"""Process upload through HTTP: list, validate, deploy, XML, and hostile uploads."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import pytest
from fastapi.testclient import TestClient

from retention_flow.services.platform.context import AppContext
from retention_flow.services.process_models import deployments as processes
from tests.api.conftest import assert_problem
from tests.factories import DATA, bundle_files

Headers = dict[str, dict[str, str]]


def _multipart(files: dict[str, bytes]) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("files", (name, body, "application/octet-stream")) for name, body in files.items()]


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, body in files.items():
            archive.writestr(name, body)
    return buffer.getvalue()


def test_deploy_list_and_read_xml(client: TestClient, headers: Headers) -> None:
    owner = headers["process_owner"]
    files = _multipart(bundle_files("three_steps"))
    response = client.post("/api/processes", files=files, headers=owner)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["created"] and [v["version"] for v in body["versions"]] == [1]
    again = client.post("/api/processes", files=files, headers=owner)
    assert again.status_code == 200 and again.json()["created"] is False
    listed = client.get("/api/processes", headers=headers["auditor"]).json()
    assert listed["count"] == 1
    assert listed["data"][0]["process_id"] == "three_steps"
    assert listed["data"][0]["latest_version"] == 1
    xml = client.get("/api/processes/three_steps/versions/1", headers=headers["auditor"])
    assert xml.status_code == 200 and xml.headers["content-type"].startswith("application/xml")
    assert "<bpmn:definitions" in xml.text
    missing = client.get("/api/processes/three_steps/versions/9", headers=owner)
    assert_problem(missing, 404, "not_found")


def test_deploy_a_zip(client: TestClient, headers: Headers) -> None:
    archive = _zip(bundle_files("message_wait"))
    response = client.post(
        "/api/processes",
        files=[("files", ("bundle.zip", archive, "application/zip"))],
        headers=headers["process_owner"],
    )
    assert response.status_code == 201, response.text
    assert response.json()["versions"][0]["process_id"] == "message_wait"


def test_validate_names_the_element(client: TestClient, headers: Headers) -> None:
    good = client.post(
        "/api/processes/validate",
        files=_multipart(bundle_files("three_steps")),
        headers=headers["process_owner"],
    )
    assert good.json() == {"valid": True, "errors": [], "processes": ["three_steps"]}
    bad = client.post(
        "/api/processes/validate",
        files=_multipart(bundle_files("invalid/unknown_lane_role")),
        headers=headers["process_owner"],
    )
    assert bad.status_code == 200
    body = bad.json()
    assert body["valid"] is False
    assert any(e["element_id"] == "lane_marketing_department" for e in body["errors"])
    deploy = client.post(
        "/api/processes",
        files=_multipart(bundle_files("invalid/unknown_lane_role")),
        headers=headers["process_owner"],
    )
    problem = assert_problem(deploy, 422, "invalid_process")
    assert any(e["element_id"] == "lane_marketing_department" for e in problem["errors"])


XXE = b"""<?xml version="1.0"?>
<!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">&xxe;</bpmn:definitions>
"""
LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">&lol3;</bpmn:definitions>
"""


def _zip_bomb() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("big.bpmn", b"\0" * (60 * 1024 * 1024))
    return buffer.getvalue()


def _hostile(name: str) -> dict[str, bytes]:
    return {name: (DATA / "hostile" / name).read_bytes()}


HOSTILE: list[tuple[str, Any, int, str]] = [
    ("xxe", lambda: {"x.bpmn": XXE}, 422, "invalid_process"),
    ("billion_laughs", lambda: {"x.bpmn": LAUGHS}, 422, "invalid_process"),
    ("garbage", lambda: {"x.bpmn": bytes(range(256)) * 64}, 422, "invalid_process"),
    ("not_xml", lambda: {"x.dmn": b"hello"}, 422, "invalid_process"),
    ("bad_suffix", lambda: {"x.exe": b"MZ"}, 422, "validation_failed"),
    ("zip_bomb", lambda: {"b.zip": _zip_bomb()}, 422, "invalid_process"),
    ("not_a_zip", lambda: {"b.zip": b"PK\x03\x04garbage"}, 422, "invalid_process"),
    ("oversized", lambda: {"x.bpmn": b" " * (3 * 1024 * 1024)}, 413, "payload_too_large"),
    ("script_import_os", lambda: _hostile("import_os.bpmn"), 422, "invalid_process"),
    ("script_open_file", lambda: _hostile("open_file.bpmn"), 422, "invalid_process"),
    ("script_getattr", lambda: _hostile("getattr_trick.bpmn"), 422, "invalid_process"),
]


@pytest.mark.parametrize("path", ["/api/processes", "/api/processes/validate"])
@pytest.mark.parametrize(("name", "files", "status", "code"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_uploads_are_refused_and_nothing_is_stored(
    ctx: AppContext,
    client: TestClient,
    headers: Headers,
    path: str,
    name: str,
    files: Any,
    status: int,
    code: str,
) -> None:
    if name.startswith("script_") and not (DATA / "hostile").is_dir():
        pytest.skip("tests/data/hostile not present")
    response = client.post(path, files=_multipart(files()), headers=headers["process_owner"])
    if path.endswith("validate") and status == 422 and code == "invalid_process":
        assert response.status_code == 200 and response.json()["valid"] is False, response.text
        assert response.json()["errors"][0]["message"]
    else:
        assert_problem(response, status, code)
    assert processes.list_versions(ctx) == []


def test_upload_without_files_is_422(client: TestClient, headers: Headers) -> None:
    response = client.post("/api/processes", headers=headers["process_owner"])
    body = assert_problem(response, 422, "validation_failed")
    assert body["errors"][0]["field"] == "files"
