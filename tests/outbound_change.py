"""A real change of the shipped outbound diagram, for the migration tests and bench.

Version 2 of ``outbound_telemarketing`` (deployed as an edit of the shipped bundle):

* the retry wait is a new element, ``wait_retry_business``, replacing
  ``wait_before_retry`` (one business day: a wait that still reads ``"P1D"`` becomes
  ``business_due("P1D")``): cases waiting there need the mapping
  ``wait_before_retry -> wait_retry_business``;
* customers who prefer mail get no further call: ``gw_attempts_left`` now reads
  ``preferred_channel``, which intake sends only since this version (a case started
  without it lacks it, and the dry run names it).
"""

from __future__ import annotations

from retention_flow.services.platform.context import Actor, AppContext
from retention_flow.services.process_models import versions

PROCESS = "outbound_telemarketing"
FILE = "outbound_telemarketing.bpmn"
OLD_WAIT = "wait_before_retry"
NEW_WAIT = "wait_retry_business"
MAPPING = {OLD_WAIT: NEW_WAIT}


def changed_outbound(xml: str) -> str:
    new = xml.replace(OLD_WAIT, NEW_WAIT)
    new = new.replace(
        '<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">"P1D"</bpmn:timeDuration>',
        '<bpmn:timeDate xsi:type="bpmn:tFormalExpression">business_due("P1D")</bpmn:timeDate>',
    )
    new = new.replace(
        "attempts &lt; max_attempts</bpmn:conditionExpression>",
        'attempts &lt; max_attempts and preferred_channel != "mail"</bpmn:conditionExpression>',
    )
    assert new.count(NEW_WAIT) > 3 and "preferred_channel" in new, "the diagram moved on"
    return new


def deploy_change(ctx: AppContext, actor: Actor, from_version: int = 1) -> int:
    """Deploy version 2 (as an owner's edit of ``from_version``); answers its number."""
    xml = versions.version_files(ctx, PROCESS, from_version).files[FILE]
    result = versions.deploy_edit(ctx, actor, PROCESS, from_version, {FILE: changed_outbound(xml)})
    [version] = [v.version for v in result.versions if v.process_id == PROCESS]
    return version
