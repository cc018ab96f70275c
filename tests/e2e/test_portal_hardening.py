"""The hardening as a browser sees it: a signed-out tab goes back to the log-in form by itself, every
page runs under the Content-Security-Policy without a violation, and daphne answers an over-long
request line with a 414 instead of dropping the connection."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import pytest

from .conftest import log_in
from .test_portal_flow import wait_until

pytestmark = pytest.mark.e2e

PAGES = ["/", "/orders/", "/bots/new/", "/exchange-accounts/", "/market/", "/discrepancies/",
         "/accounts/password/", "/portfolio/", "/notifications/"]


def test_a_tab_whose_session_ends_goes_back_to_the_login_form(browser, platform):
    page = log_in(browser, platform, "alice")
    page.goto(f"{platform.url}/market/")  # a page with a live socket whatever alice owns
    wait_until(lambda: page.text_content("#live-status") == "live", 10, "the live socket")
    # Signed out elsewhere (another tab, an admin, session expiry): the cookie is gone, and the next
    # reconnect is refused with 4401, which the page must see (not a 1006 retried for ever).
    page.context.clear_cookies()
    page.evaluate("PortalLive.instances[0].ws.close()")
    page.wait_for_url(f"{platform.url}/accounts/login/?next=%2Fmarket%2F", timeout=10_000)
    assert page.query_selector("#id_username") is not None
    page.context.close()


def test_every_page_runs_under_the_content_security_policy_without_a_violation(browser, platform):
    page = log_in(browser, platform, "alice")
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    for path in PAGES:
        response = page.goto(f"{platform.url}{path}")
        assert response.status == 200, path
        policy = response.headers.get("content-security-policy", "")
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy, path
    assert violations == []
    # The policy is enforced: an injected inline script does not run.
    page.goto(f"{platform.url}/")
    ran = page.evaluate("""() => { const s = document.createElement('script'); s.textContent = 'window.pwned = 1';
        document.body.appendChild(s); return window.pwned === 1; }""")
    assert ran is False
    page.context.close()


def raw_request(url: str, target: str) -> bytes:
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as s:
        s.sendall(f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: close\r\n\r\n".encode())
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_a_huge_query_string_gets_a_clear_answer_from_the_server(platform):
    over_line_limit = raw_request(platform.url, "/orders/?q=" + "x" * 20_000)
    assert over_line_limit.startswith(b"HTTP/1.1 414")
    over_page_limit = raw_request(platform.url, "/orders/?q=" + "x" * 5_000)
    assert over_page_limit.startswith(b"HTTP/1.1 414") and b"too long" in over_page_limit


def test_the_admin_works_under_the_content_security_policy(browser, platform):
    from bots.services.demo import ADMIN_PASSWORD

    page = log_in(browser, platform, "admin", password=ADMIN_PASSWORD)
    for path in ("/admin/", "/admin/bots/bot/", "/admin/bots/bot/1/change/", "/admin/axes/accessattempt/",
                 "/portfolio/", "/notifications/"):
        assert page.goto(f"{platform.url}{path}").status == 200, path
    page.goto(f"{platform.url}/admin/bots/bot/")
    page.click("#action-toggle")  # the admin's own script runs: "select all" ticks every row
    assert page.is_checked("input.action-select")
    assert page.csp_violations == []
    page.context.close()
