"""Logging in and out in a real browser: the same accounts as the API, a cookie session,
CSRF-protected forms, and an ended session sends the user back to the login page."""

from __future__ import annotations

from typing import Any

import pytest

from retention_flow.services.people import users

pytestmark = pytest.mark.browser


def test_login_lands_on_the_users_start_page_and_logout_ends_the_session(
    page: Any, login_as: Any
) -> None:
    page.goto("/queue")
    assert "/login" in page.url  # not logged in: the login page, which comes back here
    page.fill("#username", "agent1")
    page.fill("#password", "wrong")
    page.press("#password", "Enter")
    assert page.locator("[role=alert]").inner_text() == "Wrong user name or password."

    login_as(page, "agent1")
    assert page.url.endswith("/queue")
    cookie = next(c for c in page.context.cookies() if c["name"] == "rf_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    assert page.locator("header .who").inner_text().startswith("agent1")

    page.click("text=Log out")
    assert "/login" in page.url
    assert page.get_by_text("You are logged out.").is_visible()
    page.goto("/queue")
    assert "/login" in page.url
    # a copy of the session cookie (taken before the logout) no longer opens a page
    page.context.add_cookies([cookie])
    page.goto("/queue")
    assert "/login" in page.url
    assert page.get_by_text("Your session has ended. Please log in again.").is_visible()


def test_a_disabled_users_session_stops_with_a_plain_message(
    page: Any, login_as: Any, live_server: Any
) -> None:
    login_as(page, "agent1")
    users.disable(live_server.ctx, "agent1")
    page.goto("/account")
    assert "/login" in page.url
    assert page.get_by_text("Your session has ended. Please log in again.").is_visible()


def test_a_form_without_the_csrf_token_is_refused(page: Any, login_as: Any) -> None:
    login_as(page, "agent1")
    response = page.request.post("/logout", form={"csrf_token": "forged"})
    assert response.status == 403
    page.goto("/account")  # still logged in: the forged logout did nothing
    assert page.url.endswith("/account")
