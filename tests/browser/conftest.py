"""Browser tests: Debian's Chromium (launched once a session by tests/chromium.py) driven by Playwright against
pytest-django's live server.

Every page a test opens reports console errors, CSP violations and uncaught page errors; any of them fails the
test at teardown, unless the test allowed it by name (`browser_problems.allow(...)`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect
from pytest_django.live_server_helper import LiveServer

from accounts.models import User
from tests.factories import PASSWORD

VIEWPORT = {"width": 1280, "height": 800}
ACTION_TIMEOUT_MS = 10_000
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
LOGIN_PATH = "/account/login/"

# Runs in every document before the page's own scripts; CDP injects it, so the page's CSP does not apply.
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  const blocked = event.blockedURI || "inline code";
  const where = `${event.sourceFile}:${event.lineNumber}`;
  window.__fbReportCspViolation(`${event.violatedDirective} blocked ${blocked} at ${where}`);
}, true);
"""

# Counts htmx settles on the current document so a test can wait for the swap its click caused.
COUNT_HTMX_SETTLES = """() => {
  if (!window.__fbSettleCounter) {
    window.__fbSettleCounter = true;
    window.__fbSettles = 0;
    document.addEventListener("htmx:afterSettle", () => { window.__fbSettles += 1; });
  }
  return window.__fbSettles;
}"""


@dataclass
class BrowserProblems:
    """Console errors, CSP violations and page errors seen during one test."""

    seen: list[str] = field(default_factory=list)
    allowed: list[re.Pattern[str]] = field(default_factory=list)

    def allow(self, pattern: str) -> None:
        """Expect problems matching this regular expression, such as the 404 a test asks for."""
        self.allowed.append(re.compile(pattern))

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error" or message.text.startswith("Refused to"):
            self.seen.append(f"console {message.type}: {message.text} ({message.location.get('url', '')})")

    def on_page_error(self, error: Exception) -> None:
        self.seen.append(f"page error: {error}")

    def on_csp_violation(self, _source: Any, report: str) -> None:
        self.seen.append(f"CSP violation: {report}")

    def unexpected(self) -> list[str]:
        return [problem for problem in self.seen if not any(p.search(problem) for p in self.allowed)]


@pytest.fixture
def browser_problems() -> BrowserProblems:
    return BrowserProblems()


@pytest.fixture
def new_page(
    browser: Browser, live_server: LiveServer, browser_problems: BrowserProblems
) -> Iterator[Callable[..., Page]]:
    """Open a page in a fresh context (its own cookies); keyword arguments go to `browser.new_context`."""
    contexts = []

    def open_page(**options: Any) -> Page:
        context = browser.new_context(viewport=VIEWPORT, base_url=live_server.url, **options)
        contexts.append(context)
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        context.expose_binding("__fbReportCspViolation", browser_problems.on_csp_violation)
        context.add_init_script(REPORT_CSP_VIOLATIONS)
        page = context.new_page()
        page.on("console", browser_problems.on_console)
        page.on("pageerror", browser_problems.on_page_error)
        return page

    yield open_page
    for context in contexts:
        context.close()
    problems = browser_problems.unexpected()
    if problems:
        pytest.fail("The browser reported problems:\n" + "\n".join(problems), pytrace=False)


@pytest.fixture
def page(new_page: Callable[..., Page]) -> Page:
    return new_page()


def sign_in(page: Page, live_server: LiveServer, user: User, password: str = PASSWORD) -> None:
    """Sign in through the real login form and wait until it has let the person through."""
    page.goto(f"{live_server.url}{LOGIN_PATH}")
    page.get_by_label("E-mail address").fill(user.email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).not_to_have_url(re.compile(re.escape(LOGIN_PATH)))


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page screenshot to test-artifacts/screenshots/<name>.png for people to look at."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    # Hiding the caret (Playwright's default) leaves style="" on inputs, which htmx's attribute settling then
    # copies onto swapped-in elements and the CSP rightly refuses.
    page.screenshot(path=str(path), full_page=True, caret="initial")
    return path


@contextmanager
def htmx_settled(page: Page) -> Iterator[None]:
    """Wait, after the block, until htmx has settled a swap that the block caused."""
    before = page.evaluate(COUNT_HTMX_SETTLES)
    yield
    page.wait_for_function(f"() => window.__fbSettles > {before}")
