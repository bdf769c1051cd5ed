"""Reading, previewing, saving and tracing a brand's policy, in a real browser."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from accounts.models import Brand, ConnectedAccount, User
from rules import services
from rules.models import PolicyVersion
from tests.browser.conftest import BrowserProblems, htmx_settled, screenshot, sign_in
from tests.rules.test_policy_views import add_followers

pytestmark = pytest.mark.browser


@pytest.fixture
def followers(brand: Brand) -> None:
    add_followers(
        brand,
        "fan.example",
        "spam.example",
        "loyal.example",
        "quiet.example",
        "maker@mastodon.example",
        customers=("loyal.example",),
    )


def preview_count(page: Page, verdict: str):
    return page.locator(f'#policy-preview [data-count="{verdict}"]')


def test_an_admin_tunes_the_policy_watching_the_preview_and_finds_the_change_in_the_history(
    page: Page, live_server: LiveServer, brand: Brand, owner: User, followers: None
) -> None:
    sign_in(page, live_server, owner)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Policy").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Policy")
    expect(preview_count(page, "suggested")).to_have_text("1")
    expect(preview_count(page, "held_by_rule")).to_have_text("0")

    with htmx_settled(page):
        page.get_by_label("Suggest threshold").fill("70")
    with htmx_settled(page):
        page.get_by_label("Never-follow list").fill("@Spam.example")
    expect(preview_count(page, "held_by_rule")).to_have_text("1")
    held = page.locator('#policy-preview [data-examples="held_by_rule"] li')
    expect(held).to_have_count(1)
    expect(held).to_contain_text("@spam.example")
    expect(held).to_contain_text("never: on the never-follow list")
    expect(held.locator(".chip").first).to_be_visible()
    below = page.locator('#policy-preview [data-examples="below_threshold"]')
    expect(below).to_contain_text("below the threshold of 70")
    expect(page.get_by_text("Default: 60.", exact=False).first).to_be_visible()
    with htmx_settled(page):
        page.get_by_label("Always-follow list").fill("fan.example")
    expect(preview_count(page, "suggested")).to_have_text("2")
    expect(preview_count(page, "below_threshold")).to_have_text("2")
    with htmx_settled(page):
        page.get_by_role("switch", name="Always suggest customers").uncheck()
    expect(preview_count(page, "suggested")).to_have_text("1")
    expect(preview_count(page, "below_threshold")).to_have_text("3")
    page.get_by_label("Note for the history").fill("Keep spam out, fans in")
    page.get_by_role("heading", level=1).scroll_into_view_if_needed()
    screenshot(page, "policy-edit")

    page.get_by_role("button", name="Save as version 2").click()

    expect(page).to_have_url(f"{live_server.url}/b/acme/policy/")
    expect(page.locator("#toasts")).to_contain_text("Policy saved as version 2.")
    expect(page.get_by_label("Suggest threshold")).to_have_value("70")
    page.get_by_role("link", name="Version history").click()
    latest = page.locator("article.policy-version").first
    expect(latest.get_by_role("heading", level=2)).to_have_text(re.compile(r"^Version 2\s+current$"))
    expect(latest).to_contain_text("Keep spam out, fans in")
    expect(latest.get_by_role("row", name=re.compile("^Suggest threshold"))).to_have_text(
        re.compile(r"Suggest threshold\s*60\s*70")
    )
    expect(latest.get_by_role("row", name=re.compile("^Never-follow list"))).to_contain_text(
        "added @spam.example"
    )
    expect(latest.get_by_role("row", name=re.compile("^Always-follow list"))).to_contain_text(
        "added @fan.example"
    )
    expect(latest.get_by_role("row", name=re.compile("^Always suggest customers"))).to_have_text(
        re.compile(r"Always suggest customers\s*yes\s*no")
    )
    screenshot(page, "policy-history")
    assert PolicyVersion.objects.get(brand=brand, number=2).settings["never_follow"] == ["spam.example"]


def test_a_mistake_in_the_policy_shows_in_the_preview_and_at_its_field_on_save(
    page: Page,
    live_server: LiveServer,
    browser_problems: BrowserProblems,
    brand: Brand,
    owner: User,
    followers: None,
) -> None:
    browser_problems.allow(r"status of 422 \(Unprocessable Entity\).*/b/acme/policy/(preview/)?\)$")
    sign_in(page, live_server, owner)
    page.goto(f"{live_server.url}/b/acme/policy/")

    with htmx_settled(page):
        page.get_by_label("Blocklist", exact=True).fill("giveaway\n/(free+)+ followers/")
    expect(page.locator("#policy-preview")).to_contain_text("Fix these to see a preview:")
    page.get_by_role("button", name="Save as version 2").click()

    expect(page.get_by_role("alert")).to_contain_text("The policy was not saved.")
    expect(page.get_by_label("Blocklist", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#id_blocklist_error")).to_have_text(
        "Line 2: it repeats a group that itself repeats, like (a+)+, which can take forever to check."
    )
    screenshot(page, "policy-errors")
    assert PolicyVersion.objects.filter(brand=brand).count() == 1


def test_a_viewer_reads_the_policy_without_being_able_to_change_it(
    page: Page, live_server: LiveServer, brand: Brand, viewer: User
) -> None:
    sign_in(page, live_server, viewer)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Policy").click()

    expect(page.get_by_role("heading", level=2, name="Never suggest")).to_be_visible()
    expect(page.locator("main form")).to_have_count(0)
    expect(page.locator(".policy-values").first).to_contain_text("Suggest threshold")
    expect(page.get_by_text("Only admins of Acme Coffee can change the policy.")).to_be_visible()
    screenshot(page, "policy-read-only")


def test_an_admin_previews_and_saves_the_policy_without_javascript(
    new_page: Callable[..., Page], live_server: LiveServer, brand: Brand, owner: User, followers: None
) -> None:
    page = new_page(java_script_enabled=False)
    sign_in(page, live_server, owner)
    page.goto(f"{live_server.url}/b/acme/policy/")
    page.get_by_label("Never-follow list").fill("spam.example\nquiet.example")

    page.get_by_role("button", name="Preview without saving").click()

    expect(preview_count(page, "held_by_rule")).to_have_text("2")
    expect(page.get_by_label("Never-follow list")).to_have_value("spam.example\nquiet.example")
    assert PolicyVersion.objects.filter(brand=brand).count() == 1
    page.get_by_role("button", name="Save as version 2").click()
    expect(page).to_have_url(f"{live_server.url}/b/acme/policy/")
    expect(page.locator("#toasts")).to_contain_text("Policy saved as version 2.")
    expect(preview_count(page, "held_by_rule")).to_have_text("2")
    screenshot(page, "policy-saved-without-javascript")


def test_an_admin_reads_estimates_for_all_followers_scaled_from_the_previews_sample(
    page: Page, live_server: LiveServer, brand: Brand, owner: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(services, "PREVIEW_SAMPLE_SIZE", 8)
    add_followers(
        brand, *[f"fan{n:02}.example" for n in range(40)], customers=("fan03.example", "fan11.example")
    )
    ConnectedAccount.objects.filter(brand=brand).update(followers_count=40)
    sign_in(page, live_server, owner)
    page.goto(f"{live_server.url}/b/acme/policy/")

    preview = page.locator("#policy-preview")
    expect(preview).to_contain_text("A fixed sample of 8 of the brand's 40 current followers")
    counts = [
        int(preview_count(page, key).inner_text()) for key in ("suggested", "below_threshold", "held_by_rule")
    ]
    assert sum(counts) == 8
    for key, count in zip(("suggested", "below_threshold", "held_by_rule"), counts, strict=True):
        expect(preview.locator(f'[data-estimate="{key}"]')).to_have_text(f"≈ {count * 5} of all")
    expect(preview).to_contain_text(
        "“Of all” is an estimate: the counts of the 8 sampled followers scaled to all 40."
    )
    screenshot(page, "policy-preview-estimate")
