"""Pages carry a Content-Security-Policy and its companions; API answers do not need them."""

from __future__ import annotations

from retention_flow.web.headers import CSP
from tests.web.conftest import PageClient


def test_pages_carry_security_headers(pages: dict[str, PageClient]) -> None:
    page = pages["agent"].get("/queue")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"] == CSP
    assert "script-src 'self'" in CSP and "frame-ancestors 'none'" in CSP
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["x-content-type-options"] == "nosniff"
    login = pages["anonymous"].get("/login")
    assert login.headers["content-security-policy"] == CSP  # before logging in too
    api = pages["anonymous"].get("/health")
    assert "content-security-policy" not in api.headers
