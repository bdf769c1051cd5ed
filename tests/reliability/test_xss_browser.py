"""The XSS corpus in headless Chromium, with the project's real Content Security Policy: nothing runs.

The hostile brand of `hostile_world.py` is served by the live server; Chromium opens every page a member reaches
(following "more" and "older" links), clicks "Show more" so htmx swaps rows in, types into the policy form so the
live preview swaps, uploads the hostile customer list and posts a refused policy through the real forms. Every
document gets, before its own scripts, `window.__xss` (which payloads call) and a `securitypolicyviolation`
listener; dialogs (`alert`) and console errors are recorded too. Requests leaving the live server (payload
links and avatars) are answered locally with an empty image and counted, never sent. The test fails on any
script execution, dialog, CSP violation, console error or page error. Figures go to test-artifacts/xss/.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.urls import reverse
from playwright.sync_api import Browser, BrowserContext, Dialog, Page, Route
from pytest_django.live_server_helper import LiveServer

from followback.queue_views import Tab
from rules.models import Suggestion, SuggestionStatus
from tests.browser.conftest import SCREENSHOTS, VIEWPORT, htmx_settled
from tests.reliability import hostile_world
from tests.reliability.hostile_world import World
from tests.reliability.xss_corpus import PAYLOADS, markers_in

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
pytestmark = [pytest.mark.browser, pytest.mark.slow]

FIGURES = Path(__file__).resolve().parents[2] / "test-artifacts" / "xss"
EMPTY_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)
HOOKS = """
window.__xss = (id) => window.__fbXssRan(String(id));
document.addEventListener("securitypolicyviolation", (event) => {
  window.__fbCspViolation(`${event.violatedDirective} blocked ${event.blockedURI || "inline code"}`);
}, true);
"""
SETTLED = "() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))"


@dataclass
class Watch:
    """Everything the browser reported while the pages were open."""

    ran: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    csp: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)
    pages: int = 0
    pairs: int = 0

    def dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def console(self, kind: str, text: str) -> None:
        """Console errors, except the 422 a refused policy form answers by design."""
        if kind == "error" and "status of 422" not in text:
            self.errors.append(text)

    def figures(self) -> dict[str, int]:
        return {"pages": self.pages, "payload_page_pairs": self.pairs, "script_executions": len(self.ran),
                "dialogs": len(self.dialogs), "csp_violations": len(self.csp), "console_or_page_errors": len(self.errors),
                "requests_kept_from_leaving": len(self.outside), "payloads": len(PAYLOADS)}  # fmt: skip


@pytest.fixture
def hostile(transactional_db: None, live_server: LiveServer) -> World:
    return hostile_world.build_world()


@pytest.fixture
def watch() -> Watch:
    return Watch()


@pytest.fixture
def browser_for(browser: Browser, live_server: LiveServer, watch: Watch) -> Iterator[Any]:
    contexts: list[BrowserContext] = []
    origin = urlsplit(live_server.url).netloc

    def keep_local(route: Route) -> None:
        if urlsplit(route.request.url).netloc == origin:
            route.continue_()
        else:
            watch.outside.append(route.request.url)
            route.fulfill(status=200, content_type="image/png", body=EMPTY_PNG)

    def open_as(user: Any) -> Page:
        client = Client()
        client.force_login(user)
        context = browser.new_context(viewport=VIEWPORT, base_url=live_server.url)
        contexts.append(context)
        context.set_default_timeout(20_000)
        context.add_cookies(
            [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
        )
        context.expose_binding("__fbXssRan", lambda _source, marker: watch.ran.append(marker))
        context.expose_binding("__fbCspViolation", lambda _source, report: watch.csp.append(report))
        context.add_init_script(HOOKS)
        context.route("**/*", keep_local)
        page = context.new_page()
        page.on("dialog", watch.dialog)
        page.on("console", lambda message: watch.console(message.type, message.text))
        page.on("pageerror", lambda error: watch.errors.append(str(error)))
        return page

    yield open_as
    for context in contexts:
        context.close()


def fulfil(route: Route, *, body: str, headers: dict[str, str]) -> None:
    route.fulfill(status=200, content_type="text/html", headers=headers, body=body)


def shot(page: Page, name: str) -> None:
    """The first screenful (these pages are too tall for one full-page capture)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), caret="initial")


def visit(page: Page, watch: Watch, path: str) -> None:
    response = page.goto(path, wait_until="load")
    assert response is not None, path
    assert response.status in (200, 422), f"{path}: HTTP {response.status}"
    page.evaluate(SETTLED)
    html = page.content()
    watch.pages += 1
    watch.pairs += len(markers_in(html))


def next_link(page: Page, selector: str) -> str | None:
    link = page.locator(selector).first
    return link.get_attribute("href") if link.count() else None


def crawl(page: Page, watch: Watch, start: str, selector: str) -> None:
    path: str | None = start
    while path is not None:
        visit(page, watch, path)
        href = next_link(page, selector)
        path = None if href is None else (urlsplit(start).path + href if href.startswith("?") else href)


def test_no_payload_runs_and_the_csp_sees_no_violation_on_any_page(
    hostile: World, browser_for: Any, watch: Watch, live_server: LiveServer
) -> None:
    brand = hostile.brand.slug
    owner = browser_for(hostile.owner)

    def url(name: str, **kwargs: Any) -> str:
        return reverse(name, kwargs={"brand": brand, **kwargs})

    for tab in Tab:
        crawl(owner, watch, f"{url('queue')}?tab={tab.value}", "#queue-more a")
    visit(owner, watch, f"{url('queue')}?tab=pending")
    shot(owner, "xss-queue")
    with htmx_settled(owner):
        owner.locator("#queue-more a").click()
    samples = [
        Suggestion.objects.filter(status=s).values_list("pk", flat=True).first() for s in SuggestionStatus
    ]
    for pk in [*hostile.detail_ids, *(pk for pk in samples if pk)]:
        visit(owner, watch, url("suggestion_detail", suggestion_id=pk))
    shot(owner, "xss-suggestion")
    for show in ("all", "waiting", "failed", "done"):
        crawl(owner, watch, f"{url('follows')}?show={show}", "a[rel=next]")
    crawl(owner, watch, url("audit"), "a[rel=next]")
    for name in ("brand_home", "accounts:account_list", "accounts:members", "rules:policy_history"):
        visit(owner, watch, url(name))
    for account_id in hostile.account_ids:
        visit(owner, watch, url("accounts:account_detail", account_id=account_id))
    for query in list(hostile_world.reflected_queries())[:3]:
        visit(owner, watch, f"{url('queue')}?{query}")

    visit(owner, watch, url("accounts:customer_list"))
    csv_file = Path(FIGURES) / "hostile-customers.csv"
    FIGURES.mkdir(parents=True, exist_ok=True)
    csv_file.write_bytes(hostile_world.customer_csv())
    owner.get_by_label("Customer list (CSV)").set_input_files(str(csv_file))
    owner.get_by_role("button", name="Upload").click()
    owner.locator(".import-report").wait_for()
    owner.evaluate(SETTLED)
    watch.pages += 1

    visit(owner, watch, url("rules:policy"))
    with htmx_settled(owner):
        owner.get_by_label("Never-follow list").fill("\n".join(p.text[:200] for p in PAYLOADS[:60]))
    shot(owner, "xss-policy-preview")
    with owner.expect_navigation():
        owner.get_by_role("button", name=re.compile(r"Save as version")).click()
    owner.locator(".form-error").first.wait_for()
    owner.evaluate(SETTLED)
    watch.pages += 1
    shot(owner, "xss-policy-refused")

    viewer = browser_for(hostile.viewer)
    visit(viewer, watch, url("rules:policy"))
    visit(viewer, watch, url("queue"))

    (FIGURES / "browser.json").write_text(json.dumps(watch.figures(), indent=2) + "\n")
    assert watch.errors == [], f"console or page errors: {watch.errors[:20]}"
    assert watch.ran == [], f"payloads ran: {watch.ran[:20]}"
    assert watch.dialogs == [], f"dialogs opened: {watch.dialogs[:20]}"
    assert watch.csp == [], f"CSP violations: {watch.csp[:20]}"
    assert watch.pages > 100


def test_the_hooks_see_a_payload_that_runs_and_one_the_csp_blocks(
    browser_for: Any, watch: Watch, live_server: LiveServer, transactional_db: None
) -> None:
    """The watch is not blind: without a CSP a payload reports itself; under our CSP the attempt is a violation."""
    from tests.factories import UserFactory

    page = browser_for(UserFactory())
    marker = PAYLOADS[0].id
    csp = "default-src 'self'; script-src 'self'"
    for path, headers in (("/__open", {}), ("/__guarded", {"Content-Security-Policy": csp})):
        body = f"<img src=/none onerror=\"__xss('{marker}')\"><script>alert('{marker}')</script>"
        page.route(f"**{path}", partial(fulfil, body=body, headers=headers))
        page.goto(f"{live_server.url}{path}")
        page.evaluate(SETTLED)

    assert watch.ran == [marker]
    assert watch.dialogs == [marker]
    assert len(watch.csp) == 2
