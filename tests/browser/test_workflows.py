"""Two of the daily workflows end to end, with a real worker: a two-person approval whose follow then happens on the
(fake) platform, and an admin whose policy change shows in the queue."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from accounts.models import AuditEvent, Brand, ConnectedAccount, Follower, User
from followback.models import FollowAction, FollowState
from rules import services
from rules.models import Suggestion, SuggestionStatus
from rules.queue import build_daily_queue
from tests.browser.conftest import htmx_settled, screenshot, sign_in
from tests.fakes.mastodon import FakeMastodon
from tests.followback.queue_data import (
    ENGAGED_REASON,
    connected_account,
    make_follower,
    require_second_approver,
)
from tests.followback.test_execution import mastodon_account
from tests.workers import wait_until

pytestmark = pytest.mark.browser

StartWorker = Callable[..., subprocess.Popen]


def pending_suggestion(account: ConnectedAccount, platform_id: str, handle: str) -> Suggestion:
    """A genuine-looking customer, so the queue rebuild that a policy save starts keeps suggesting them."""
    follower = make_follower(account, handle, is_customer=True, display_name="María Café")
    Follower.objects.filter(pk=follower.pk).update(platform_id=platform_id)
    return Suggestion.objects.create(
        brand=account.brand, account=account, follower=follower, status=SuggestionStatus.PENDING,
        policy_version=services.current_policy(account.brand), score=84, rule="always: verified customer",
        reasons=[ENGAGED_REASON], signals={"engagement": 0.6}, expires_at=timezone.now() + timedelta(days=14),
    )  # fmt: skip


def test_a_reviewer_and_an_approver_approve_and_the_worker_follows_on_the_platform(
    new_page: Callable[..., Page],
    live_server: LiveServer,
    brand: Brand,
    owner: User,
    reviewer: User,
    approver: User,
    fake: FakeMastodon,
    start_worker: StartWorker,
    settings,
) -> None:
    settings.FOLLOWBACK_UNDO_SECONDS = 0
    require_second_approver(brand, owner)
    account = mastodon_account(brand, fake)
    target = fake.add_account("maria@remote.example", display_name="María Café")
    suggestion = pending_suggestion(account, target, "maria@remote.example")
    start_worker()
    reviewer_page, approver_page = new_page(), new_page()
    sign_in(reviewer_page, live_server, reviewer)
    sign_in(approver_page, live_server, approver)

    reviewer_page.goto(f"{live_server.url}/b/{brand.slug}/queue/")
    with htmx_settled(reviewer_page):
        reviewer_page.keyboard.press("a")
    expect(reviewer_page.locator("#toasts")).to_contain_text("it now waits for a second approver")

    approver_page.goto(f"{live_server.url}/b/{brand.slug}/queue/?tab=awaiting")
    row = approver_page.locator(f"#suggestion-{suggestion.pk}")
    expect(row).to_contain_text(f"Approved by {reviewer}")
    with htmx_settled(approver_page):
        row.get_by_role("button", name="Give final approval").click()
    expect(approver_page.locator("#toasts")).to_contain_text("the follow is queued")

    wait_until(lambda: FollowAction.objects.get(suggestion=suggestion).state == FollowState.DONE, seconds=60)
    assert fake.follows_done == [target]
    approver_page.goto(f"{live_server.url}/b/{brand.slug}/follows/")
    expect(approver_page.locator("tbody tr").first.locator(".status")).to_have_text("Followed")
    screenshot(approver_page, "workflow-follow-executed")
    approver_page.goto(f"{live_server.url}/b/{brand.slug}/audit/")
    expect(approver_page.locator("tbody")).to_contain_text("followed @maria@remote.example")
    verbs = list(AuditEvent.objects.filter(brand=brand).values_list("verb", flat=True))
    assert {"suggestion.proposed", "suggestion.approved", "follow.queued", "follow.executed"} <= set(verbs)
    screenshot(approver_page, "workflow-audit-log")


def test_an_admin_changes_the_policy_and_sees_the_queue_change(
    page: Page, live_server: LiveServer, brand: Brand, owner: User, start_worker: StartWorker
) -> None:
    account = connected_account(brand, "acme.demo")
    for handle in ("loyal_lou", "regular_rae", "steady_sam"):
        make_follower(account, handle, is_customer=True)
    build_daily_queue(brand)
    assert Suggestion.objects.pending().count() == 3
    start_worker()

    sign_in(page, live_server, owner)
    page.goto(f"{live_server.url}/b/{brand.slug}/queue/")
    expect(page.locator("[data-row]")).to_have_count(3)
    page.goto(f"{live_server.url}/b/{brand.slug}/policy/")
    page.get_by_label("Never-follow list").fill("regular_rae")
    page.get_by_role("button", name="Save as version 2").click()
    expect(page.locator("#toasts")).to_contain_text("Today's queue is being rebuilt with it.")

    wait_until(lambda: Suggestion.objects.held().filter(follower__handle="regular_rae").exists(), seconds=60)
    page.goto(f"{live_server.url}/b/{brand.slug}/queue/")
    expect(page.locator("[data-row]")).to_have_count(2)
    expect(page.locator("main")).not_to_contain_text("regular_rae")
    page.goto(f"{live_server.url}/b/{brand.slug}/queue/?tab=held")
    held = page.locator("[data-row]")
    expect(held).to_have_count(1)
    expect(held).to_contain_text("regular_rae")
    expect(held).to_contain_text("never-follow list")
    screenshot(page, "workflow-policy-change-held")
