"""The follows page in a real browser: an approver retries a failed follow and a worker carries it out, and an
approval over the daily cap waits for tomorrow, visibly."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from accounts.jobs import JobStatus
from accounts.models import Brand, User
from followback.execution import day_start
from followback.models import FollowAction, FollowState
from tests.browser.conftest import htmx_settled, screenshot, sign_in
from tests.fakes.mastodon import FakeMastodon
from tests.followback.queue_data import make_suggestion
from tests.followback.test_execution import approved_suggestion, follow_action, mastodon_account, set_policy
from tests.workers import wait_until

pytestmark = pytest.mark.browser

StartWorker = Callable[..., subprocess.Popen]


def test_an_approver_retries_a_failed_follow_and_sees_it_followed(
    page: Page,
    live_server: LiveServer,
    brand: Brand,
    approver: User,
    fake: FakeMastodon,
    start_worker: StartWorker,
) -> None:
    account = mastodon_account(brand, fake)
    target = fake.add_account("maria@remote.example", display_name="María Café")
    done = follow_action(approved_suggestion(account, fake.add_account("ok@remote.example"), "ok@remote.example"),
                         approver, state=FollowState.DONE, status=JobStatus.DONE)  # fmt: skip
    FollowAction.objects.filter(pk=done.pk).update(executed_at=done.created_at)
    follow_action(
        approved_suggestion(account, fake.add_account("later@remote.example"), "later@remote.example"), approver,
        waiting_reason="Waiting for tomorrow: today's cap of 50 follows is reached",
        run_after=day_start(timezone.now()) + timedelta(days=1),
    )  # fmt: skip
    failed = follow_action(
        approved_suggestion(account, target, "maria@remote.example"), approver,
        state=FollowState.FAILED, status=JobStatus.FAILED,
        platform_reason="127.0.0.1 answered HTTP 503: Service Unavailable",
    )  # fmt: skip

    sign_in(page, live_server, approver)
    page.goto(f"{live_server.url}/b/{brand.slug}/follows/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Follows")
    row = page.locator(f"#follow-{failed.pk}")
    expect(row.locator(".status")).to_have_text("Failed")
    expect(row).to_contain_text("The platform said: 127.0.0.1 answered HTTP 503: Service Unavailable")
    expect(page.locator("tbody tr")).to_have_count(3)
    screenshot(page, "follows-failed")

    with htmx_settled(page):
        row.get_by_role("button", name="Retry").click()

    expect(row.locator(".status")).to_have_text("Queued")
    expect(row.get_by_role("button", name="Retry")).to_have_count(0)
    expect(page.locator("#toasts")).to_contain_text("Retrying the follow of @maria@remote.example.")
    screenshot(page, "follows-retried")

    start_worker()
    wait_until(lambda: FollowAction.objects.get(pk=failed.pk).state == FollowState.DONE, seconds=60)
    page.reload()
    expect(row.locator(".status")).to_have_text("Followed")
    assert fake.follows_done == [target]
    screenshot(page, "follows-followed")


def test_an_approval_over_the_daily_cap_waits_for_tomorrow_visibly(
    page: Page, live_server: LiveServer, brand: Brand, owner: User, reviewer: User, fake: FakeMastodon
) -> None:
    account = mastodon_account(brand, fake)
    set_policy(brand, owner, daily_follow_cap=1)
    done = follow_action(approved_suggestion(account, fake.add_account("ok@remote.example"), "ok@remote.example"),
                         reviewer, state=FollowState.DONE, status=JobStatus.DONE)  # fmt: skip
    FollowAction.objects.filter(pk=done.pk).update(executed_at=timezone.now())
    suggestion = make_suggestion(account, "maria@remote.example", follower={"display_name": "María Café"})

    sign_in(page, live_server, reviewer)
    page.goto(f"{live_server.url}/b/{brand.slug}/queue/")
    with htmx_settled(page):
        page.keyboard.press("a")
    expect(page.locator("#toasts")).to_contain_text(
        "Approved @maria@remote.example. Waiting for tomorrow: today's cap of 1 follow is reached, "
        "so the follow runs then."
    )
    screenshot(page, "queue-approval-waits-for-tomorrow")

    action = FollowAction.objects.get(suggestion=suggestion)
    assert action.run_after == day_start(timezone.now()) + timedelta(days=1)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Follows").click()
    row = page.locator(f"#follow-{action.pk}")
    expect(row.locator(".status")).to_have_text("Queued")
    expect(row).to_contain_text("Waiting for tomorrow: today's cap of 1 follow is reached")
    expect(row).to_contain_text(f"Runs from {action.run_after:%-d %b}, 00:00 UTC")
    screenshot(page, "follows-waiting-for-tomorrow")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Home").click()
    today = page.locator(".dash-facts div").filter(has_text="Follow-backs today")
    expect(today.locator("dd")).to_have_text("1 of 1")
    expect(today).to_contain_text("1 on the way, 1 waiting for tomorrow: today's cap is reached")
    screenshot(page, "brand-home-waiting-for-tomorrow")
