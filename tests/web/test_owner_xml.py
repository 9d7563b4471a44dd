"""The modeler's edits (validate, deploy) are refused when the edited BPMN or DMN declares
a DTD anywhere (the hostile placements of tests/api/test_xml_dtd.py)."""

from __future__ import annotations

import pytest

from retention_flow.services.platform.context import AppContext
from retention_flow.services.process_models import deployments as processes
from retention_flow.services.process_models import versions
from tests.api.test_xml_dtd import HOSTILE
from tests.factories import deploy
from tests.web.conftest import PageClient


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_modeler_edits_with_a_dtd_are_refused(
    ctx: AppContext, pages: dict[str, PageClient], case: str
) -> None:
    deploy(ctx, "all_elements")
    owner = pages["process_owner"]
    base = "/processes/all_elements/1"
    for name in ("all_elements.bpmn", "offer_decision.dmn"):
        edited = HOSTILE[case](versions.bundle_file(ctx, "all_elements", 1, name))
        headers = {"X-CSRF-Token": owner.token}
        payload = {"files": {name: edited}}
        checked = owner.client.post(f"{base}/validate", json=payload, headers=headers)
        assert checked.status_code == 200 and checked.json()["valid"] is False
        assert "DOCTYPE" in checked.json()["errors"][0]["message"]
        deployed = owner.client.post(f"{base}/deploy", json=payload, headers=headers)
        assert deployed.status_code == 422, deployed.text
    assert [v.version for v in processes.list_versions(ctx)] == [1]
