"""The operations pages over HTTP: incidents (filter, counts, one incident, retry with a
data correction and its errors next to the field, bulk retry with confirmation and its
progress), a case's control actions (confirmation, reason, status before → after, who may)
and the signal form."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from retention_flow.core.clock import FrozenClock
from retention_flow.db.session import read_session
from retention_flow.services.audit import trail as audit
from retention_flow.services.cases import incidents
from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.cases.views import CaseView
from retention_flow.services.platform import worker
from retention_flow.services.platform.context import AppContext
from retention_flow.services.process_models import deployments as processes
from tests.factories import OWNER, actor, bundle_files, deploy
from tests.web.conftest import PageClient

AGENT = actor("agent", "agent", "telemarketing")


def _failing_cases(ctx: AppContext, n: int) -> list[CaseView]:
    files = bundle_files("three_steps")
    files["three_steps.bpmn"] = files["three_steps.bpmn"].replace(
        b"score = 42", b"score = 100 // divisor"
    )
    processes.deploy(ctx, files, OWNER)
    started = [
        cases.start_case(ctx, AGENT, "three_steps", {"divisor": 0, "n": i}, business_key=f"RC-{i}")
        for i in range(n)
    ]
    assert all(c.status == "incident" for c in started)
    return started


def _text(response: Any) -> str:
    return html.unescape(re.sub(r"\s+", " ", response.text))


def _events(ctx: AppContext, case_id: str, kind: str) -> list[Any]:
    with read_session(ctx.db) as session:
        return [e for e in audit.history(session, case_id) if e.type == kind]


def test_list_filters_counts_and_pages(
    ctx: AppContext, pages: dict[str, PageClient], clock: FrozenClock
) -> None:
    started = _failing_cases(ctx, 3)
    owner = pages["process_owner"]
    listed = owner.get("/operations")
    assert listed.status_code == 200
    text = _text(listed)
    assert "3 open incident(s)" in text and 'href="/operations"' in listed.text  # nav entry
    assert text.count('data-incident-id="') == 3
    assert f'href="/operations/cases/{started[0].id}"' in listed.text
    # the counts per process, version, element, code
    assert re.search(r"three_steps</td>\s*<td class=\"num\">1</td>\s*<td>prepare_case", listed.text)
    assert "ZeroDivisionError" in text and "Traceback" not in text
    for query, expected in (
        ("process_id=three_steps&version=1&element_id=prepare_case&error_code=script_error", 3),
        ("version=2", 0),
        ("element_id=call_customer", 0),
        ("since=" + quote((clock.now() + timedelta(seconds=1)).isoformat()), 0),
        (f"since={clock.now().date().isoformat()}", 3),
    ):
        got = _text(owner.get(f"/operations?{query}"))
        assert f"{expected} open incident(s)" in got, query
    bad = owner.get("/operations?version=two&since=yesterday")
    assert bad.status_code == 422
    assert "A version is a whole number" in _text(bad) and 'value="two"' in bad.text
    assert "Give a date" in _text(bad) and 'value="yesterday"' in bad.text
    models = owner.get("/processes").text  # the process list links its counts here
    assert 'href="/operations?process_id=three_steps&amp;version=1"' in models
    assert pages["admin"].get("/operations").status_code == 200
    for persona in ("team_lead", "auditor", "agent", "partner"):
        refused = pages[persona].get("/operations")
        assert refused.status_code == 403 and "not available with your role" in refused.text


def test_incident_page_shows_the_failure(ctx: AppContext, pages: dict[str, PageClient]) -> None:
    [case] = _failing_cases(ctx, 1)
    [incident], _ = incidents.list_incidents(ctx)
    page = pages["process_owner"].get(f"/operations/incidents/{incident.id}")
    assert page.status_code == 200
    text = _text(page)
    assert "Incident at “Prepare case”" in text and "prepare_case" in text
    assert "ZeroDivisionError: integer division or modulo by zero" in text
    assert '"divisor": 0' in text  # the case data at failure
    assert f'href="/operations/cases/{case.id}"' in page.text
    assert pages["process_owner"].get("/operations/incidents/nope").status_code == 404


def test_retry_errors_keep_the_input_then_a_correction_moves_the_case(
    ctx: AppContext, pages: dict[str, PageClient]
) -> None:
    [case] = _failing_cases(ctx, 1)
    [incident], _ = incidents.list_incidents(ctx)
    owner = pages["process_owner"]
    url = f"/operations/incidents/{incident.id}/retry"

    not_json = owner.post(url, {"patch": "{divisor: 4}", "reason": "fix"})
    assert not_json.status_code == 422
    assert "This is not valid JSON" in _text(not_json)
    assert "{divisor: 4}</textarea>" in not_json.text and 'value="fix"' in not_json.text
    for not_interoperable in ('{"divisor": NaN}', '{"divisor": 4, "divisor": 5}'):
        refused = owner.post(url, {"patch": not_interoperable, "reason": "fix"})
        assert refused.status_code == 422 and "This is not valid JSON" in _text(refused)
    no_reason = owner.post(url, {"patch": '{"divisor": 4}'})
    assert no_reason.status_code == 422 and "Please give a reason" in _text(no_reason)
    wrong_type = owner.post(url, {"patch": '{"call_result": 5}', "reason": "typo"})
    assert wrong_type.status_code == 422
    assert 'id="patch-error">“call_result”' in html.unescape(wrong_type.text)
    assert "Traceback" not in wrong_type.text
    assert cases.get_case(ctx, case.id).status == "incident"  # nothing happened
    assert pages["auditor"].post(url, {}).status_code == 403

    done = owner.post(url, {"patch": '{"divisor": 4}', "reason": "divisor was missing"})
    assert done.status_code == 303 and done.headers["location"] == f"/operations/cases/{case.id}"
    after = cases.get_case(ctx, case.id)
    assert after.status == "active" and after.data["score"] == 25
    shown = _text(owner.get(done.headers["location"]))
    assert "Retried: the case went on and is active." in shown
    assert "Call customer" in shown  # the next task
    [event] = _events(ctx, case.id, "incident_retried")
    assert event.actor == "process_owner" and event.detail["reason"] == "divisor was missing"
    again = owner.post(url, {})
    assert again.status_code == 303  # already resolved: back to the incident, said in words
    refused = _text(owner.get(again.headers["location"]))
    assert "Not retried: This incident was already retried or resolved." in refused


def test_retry_without_correction_fails_again_and_says_so(
    ctx: AppContext, pages: dict[str, PageClient]
) -> None:
    [case] = _failing_cases(ctx, 1)
    [incident], _ = incidents.list_incidents(ctx)
    done = pages["admin"].post(f"/operations/incidents/{incident.id}/retry", {})
    assert done.status_code == 303
    shown = _text(pages["admin"].get(done.headers["location"]))
    assert "the step failed again" in shown and 'id="open-incident"' in shown
    assert cases.get_case(ctx, case.id).status == "incident"


def test_bulk_retry_needs_confirmation_and_shows_progress(
    ctx: AppContext, pages: dict[str, PageClient], clock: FrozenClock
) -> None:
    started = _failing_cases(ctx, 3)
    for case in started[:2]:
        incidents.retry_case(ctx, OWNER, case.id, {"divisor": 5}, "fixed")  # resolved
    owner = pages["process_owner"]
    cases.start_case(ctx, AGENT, "three_steps", {"divisor": 0}, business_key="RC-X")
    clock.advance(timedelta(seconds=1))
    confirm = owner.get("/operations/retry?process_id=three_steps&version=1")
    assert confirm.status_code == 200
    assert "<strong>2</strong> open incident(s) match process id <code>three_steps</code>" in (
        _text(confirm)
    )
    form = {"process_id": "three_steps", "version": "1", "reason": "after the deploy"}
    unconfirmed = owner.post("/operations/retry", form)
    assert unconfirmed.status_code == 422 and "Tick the box" in _text(unconfirmed)
    assert 'value="after the deploy"' in unconfirmed.text
    no_reason = owner.post("/operations/retry", {**form, "reason": "", "confirm": "yes"})
    assert no_reason.status_code == 422 and "Please give a reason" in _text(no_reason)
    assert (
        pages["team_lead"].post("/operations/retry", {**form, "confirm": "yes"}).status_code == 403
    )

    started_batch = owner.post("/operations/retry", {**form, "confirm": "yes"})
    assert started_batch.status_code == 303
    progress_url = started_batch.headers["location"]
    queued = owner.get(progress_url)
    assert 'data-state="queued"' in queued.text and 'hx-trigger="every 2s"' in queued.text
    assert "0</strong> of 2 done" in queued.text
    assert worker.run_jobs_once(ctx, "w1", worker.default_job_handlers()) == 1
    fragment = owner.get(progress_url, headers={"HX-Request": "true"})
    assert fragment.text.lstrip().startswith('<div id="batch-progress" data-state="done"')
    assert "hx-trigger" not in fragment.text  # done: no more polling
    assert 'id="batch-failed">2' in fragment.text


def test_case_actions_need_confirmation_and_a_reason(
    ctx: AppContext, pages: dict[str, PageClient]
) -> None:
    deploy(ctx, "three_steps")
    case = cases.start_case(ctx, AGENT, "three_steps", {}, business_key="RC-CTRL")
    base = f"/operations/cases/{case.id}"
    owner = pages["process_owner"]
    page = owner.get(base)
    assert page.status_code == 200 and 'id="action-suspend"' in page.text
    assert f'data-xml-url="{base}/diagram"' in page.text
    assert owner.get(f"{base}/diagram").text.startswith("<?xml")

    no_reason = owner.post(f"{base}/suspend", {"confirm": "yes"})
    assert no_reason.status_code == 422 and "Please give a reason" in _text(no_reason)
    unconfirmed = owner.post(f"{base}/suspend", {"reason": "customer complaint"})
    assert unconfirmed.status_code == 422 and "Tick the box to confirm." in _text(unconfirmed)
    assert 'value="customer complaint"' in unconfirmed.text
    assert cases.get_case(ctx, case.id).status == "active"

    done = owner.post(f"{base}/suspend", {"reason": "customer complaint", "confirm": "yes"})
    assert done.status_code == 303
    assert "Suspended: status active → suspended." in _text(owner.get(base))
    twice = owner.post(f"{base}/suspend", {"reason": "again", "confirm": "yes"})
    assert twice.status_code == 409 and "already suspended" in _text(twice)
    assert "This case is suspended: it must be resumed first." in _text(twice)

    bad_patch = owner.post(f"{base}/data", {"patch": "[1]", "reason": "r", "confirm": "yes"})
    assert bad_patch.status_code == 422 and "A correction is a JSON object" in _text(bad_patch)
    typed = {"patch": '{"call_result": "maybe"}', "reason": "typo", "confirm": "yes"}
    wrong = owner.post(f"{base}/data", typed)
    assert wrong.status_code == 422 and "“call_result”" in _text(wrong)
    assert "{&#34;call_result&#34;: &#34;maybe&#34;}</textarea>" in wrong.text
    fixed = owner.post(f"{base}/data", {**typed, "patch": '{"tenure_months": 12}'})
    assert fixed.status_code == 303
    assert cases.get_case(ctx, case.id).data["tenure_months"] == 12
    assert "Corrected: status suspended → suspended." in _text(owner.get(base))

    resumed = pages["admin"].post(f"{base}/resume", {"confirm": "yes"})  # reason optional
    assert resumed.status_code == 303
    assert cases.get_case(ctx, case.id).status == "active"
    [event] = _events(ctx, case.id, "case_suspended")
    assert event.actor == "process_owner" and event.detail["reason"] == "customer complaint"


def test_team_lead_may_only_cancel(ctx: AppContext, pages: dict[str, PageClient]) -> None:
    deploy(ctx, "three_steps")
    case = cases.start_case(ctx, AGENT, "three_steps", {}, business_key="RC-LEAD")
    base = f"/operations/cases/{case.id}"
    lead = pages["team_lead"]
    assert f'href="{base}"' in lead.get("/team?role=telemarketing").text  # reached from Team
    page = lead.get(base)
    assert page.status_code == 200
    assert 'id="action-cancel"' in page.text and 'id="action-suspend"' not in page.text
    refused = lead.post(f"{base}/suspend", {"reason": "x", "confirm": "yes"})
    assert refused.status_code == 403 and "not available with your role" in refused.text
    for persona in ("agent", "auditor", "partner", "back_office"):
        assert pages[persona].post(
            f"{base}/cancel", {"reason": "x", "confirm": "yes"}
        ).status_code in (403, 404)
    done = lead.post(f"{base}/cancel", {"reason": "customer left", "confirm": "yes"})
    assert done.status_code == 303
    shown = _text(lead.get(base))
    assert "Cancelled: status active → cancelled." in shown
    assert "nothing can be changed any more" in shown
    closed = lead.post(f"{base}/cancel", {"reason": "again", "confirm": "yes"})
    assert closed.status_code == 409 and "This case is closed." in _text(closed)


def test_auditor_case_page_links_the_operations_view(
    ctx: AppContext, pages: dict[str, PageClient]
) -> None:
    deploy(ctx, "three_steps")
    case = cases.start_case(ctx, AGENT, "three_steps", {})
    url = f"/audit/cases/{case.id}"
    assert f'href="/operations/cases/{case.id}"' not in pages["auditor"].get(url).text
    from retention_flow.services.people import users

    users.add_user(ctx, "auditing_owner", "correct horse battery", ["auditor", "process_owner"])
    both = PageClient(pages["auditor"].client.__class__(pages["auditor"].client.app))
    both.login("auditing_owner", "correct horse battery")
    assert f'href="/operations/cases/{case.id}"' in both.get(url).text


def test_signal_form_answers_whom_it_reached(ctx: AppContext, pages: dict[str, PageClient]) -> None:
    deploy(ctx, "start_events")  # tariff_change starts a tariff_notice case
    owner = pages["process_owner"]
    assert owner.get("/operations/signals").status_code == 200
    no_name = owner.post("/operations/signals", {"name": " ", "data": '{"a": 1}'})
    assert no_name.status_code == 422 and "Please give the signal's name" in _text(no_name)
    assert "{&#34;a&#34;: 1}</textarea>" in no_name.text
    nan = owner.post("/operations/signals", {"name": "tariff_change", "data": '{"t": NaN}'})
    assert nan.status_code == 422 and "This is not valid JSON" in _text(nan)
    not_object = owner.post("/operations/signals", {"name": "tariff_change", "data": "[1]"})
    assert not_object.status_code == 422 and "The data is a JSON object" in _text(not_object)
    assert 'value="tariff_change"' in not_object.text
    assert cases.list_cases(ctx, process_id="tariff_notice")[1] == 0  # nothing was sent

    sent = owner.post("/operations/signals", {"name": "tariff_change", "data": '{"t": "Q2"}'})
    assert sent.status_code == 200
    [started], count = cases.list_cases(ctx, process_id="tariff_notice")
    text = _text(sent)
    assert count == 1 and 'id="signal-started">1<' in text and 'id="signal-delivered">0<' in text
    assert f'href="/operations/cases/{started.id}"' in sent.text
    for persona in ("team_lead", "auditor", "back_office", "partner"):
        refused = pages[persona].post("/operations/signals", {"name": "tariff_change"})
        assert refused.status_code == 403
    assert cases.list_cases(ctx, process_id="tariff_notice")[1] == 1
