"""The daily workflows end to end, with a real worker: the embedded demo's morning as a newcomer meets it, a two-person
approval whose follow then happens on the (fake) platform, and an admin whose policy change shows in the queue."""

from __future__ import annotations

import io
import re
import subprocess
from collections.abc import Callable
from datetime import timedelta

import pytest
from celery import current_app
from django.core.management import call_command
from django.utils import timezone
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from accounts.jobs import JobStatus
from accounts.models import AuditEvent, Brand, ConnectedAccount, Follower, SyncRun, User
from followback.management.commands.seed_demo import DEMO_PASSWORD, DEMO_QUEUE_SIZE
from followback.models import Decision, DecisionKind, FollowAction, FollowState
from rules import services
from rules.models import QueueBuild, Suggestion, SuggestionStatus
from rules.queue import build_daily_queue
from rules.services import REBUILD_TASK
from tests.browser.conftest import htmx_settled, screenshot, sign_in
from tests.browser.test_queue import viewport_screenshot
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


DEMO_FOLLOWERS = "1000"  # the smallest demo account the Accounts page offers; `make run` seeds 2,000
REJECTED_AT = {3, 10, 16}  # the rows, in queue order, the reviewer rejects; the other 17 are approved


def test_on_the_demo_a_reviewer_clears_the_queue_from_the_keyboard_and_an_approver_gives_the_second_approvals(
    new_page: Callable[..., Page], live_server: LiveServer, start_worker: StartWorker, settings
) -> None:
    settings.FOLLOWBACK_UNDO_SECONDS = 1
    start_worker()
    call_command("seed_demo", "--followers", DEMO_FOLLOWERS, stdout=io.StringIO())
    brand = Brand.objects.get(slug="acme-coffee")
    reviewer = User.objects.get(email="reviewer@demo.test")
    approver = User.objects.get(email="approver@demo.test")
    policy = services.current_policy(brand).policy
    assert (policy.second_approver, policy.queue_size) == (True, DEMO_QUEUE_SIZE)

    # The worker syncs the demo account (followers, then engagement); then it builds the queue, as beat (or the
    # policy save) asks it to.
    runs = SyncRun.objects.filter(account__brand=brand)
    wait_until(lambda: runs.exists() and not runs.exclude(status=JobStatus.DONE).exists(), seconds=240)
    asked = timezone.now()
    current_app.send_task(REBUILD_TASK, args=[brand.pk])
    built = QueueBuild.objects.filter(brand=brand, built_at__gte=asked)
    wait_until(built.exists, seconds=240)
    assert Suggestion.objects.for_brand(brand).pending().count() == DEMO_QUEUE_SIZE

    # The reviewer, in one browser, clears the day's queue from the keyboard.
    reviewer_page = new_page()
    sign_in(reviewer_page, live_server, reviewer, password=DEMO_PASSWORD)
    expect(reviewer_page.get_by_role("heading", level=1)).to_have_text("Acme Coffee")
    reviewer_page.get_by_role("navigation", name="Main").get_by_role("link", name="Queue").click()
    rows = reviewer_page.locator("#queue-rows [data-row]")
    expect(rows).to_have_count(DEMO_QUEUE_SIZE)
    expect(rows.first.get_by_role("button", name="Approve (1 of 2)")).to_be_visible()
    reviewer_page.keyboard.press("j")
    expect(rows.first).to_be_focused()
    screenshot(reviewer_page, "demo-reviewer-queue")
    viewport_screenshot(reviewer_page, "demo-reviewer-queue")
    for n in range(DEMO_QUEUE_SIZE):
        with htmx_settled(reviewer_page):
            if n in REJECTED_AT:
                reviewer_page.keyboard.press("r")
                expect(rows.first.get_by_placeholder("Reason (optional)")).to_be_focused()
                reviewer_page.keyboard.type("Not for us")
                reviewer_page.keyboard.press("Enter")
            else:
                reviewer_page.keyboard.press("a")
        expect(rows).to_have_count(DEMO_QUEUE_SIZE - 1 - n)
    expect(reviewer_page.locator(".queue-empty")).to_have_text("Nothing left here. Well done.")
    expect(reviewer_page.locator('[data-count="awaiting"]')).to_have_text("17")
    expect(reviewer_page.locator("#toasts")).to_contain_text("it now waits for a second approver")
    screenshot(reviewer_page, "demo-reviewer-cleared")
    assert not FollowAction.objects.exists(), "no follow before the second approval"

    # The reviewer cannot give the final approvals, and gets no bulk tools for them either.
    reviewer_page.goto(f"{live_server.url}/b/{brand.slug}/queue/?tab=awaiting")
    expect(rows).to_have_count(17)
    expect(reviewer_page.get_by_role("button", name="Give final approval")).to_have_count(0)
    expect(reviewer_page.locator(".row-select")).to_have_count(0)

    # The approver, in another browser, gives the second approvals, from the keyboard too.
    approver_page = new_page()
    sign_in(approver_page, live_server, approver, password=DEMO_PASSWORD)
    approver_page.get_by_role("navigation", name="Main").get_by_role("link", name="Queue").click()
    approver_page.get_by_role("navigation", name="Queue tabs").get_by_role(
        "link", name="Awaiting second approval"
    ).click()
    waiting = approver_page.locator("#queue-rows [data-row]")
    expect(waiting).to_have_count(17)
    expect(waiting.first).to_contain_text(f"Approved by {reviewer}")
    screenshot(approver_page, "demo-approver-awaiting")
    viewport_screenshot(approver_page, "demo-approver-awaiting")
    for n in range(17):
        with htmx_settled(approver_page):
            approver_page.keyboard.press("a")
        expect(waiting).to_have_count(16 - n)
    expect(approver_page.locator("#toasts")).to_contain_text("the follow is queued")
    expect(approver_page.locator('[data-count="awaiting"]')).to_have_text("0")

    # After the (shortened) undo window, the worker follows through the demo platform.
    follows = FollowAction.objects.filter(brand=brand)
    wait_until(lambda: follows.filter(state=FollowState.DONE).count() == 17, seconds=240)
    decisions = Decision.objects.filter(brand=brand)
    proposed = set(
        decisions.filter(actor=reviewer, kind=DecisionKind.PROPOSE).values_list("suggestion", flat=True)
    )
    assert len(proposed) == 17
    assert decisions.filter(actor=reviewer, kind=DecisionKind.REJECT, reason="Not for us").count() == 3
    assert set(
        decisions.filter(actor=approver, kind=DecisionKind.APPROVE).values_list("suggestion", flat=True)
    ) == (proposed)
    assert set(follows.values_list("suggestion_id", flat=True)) == proposed
    assert set(follows.values_list("approved_by", flat=True)) == {approver.pk}
    approved = Suggestion.objects.filter(pk__in=proposed).select_related("follower")

    approver_page.get_by_role("navigation", name="Main").get_by_role("link", name="Follows").click()
    expect(approver_page.locator("tbody tr .status")).to_have_count(17)
    expect(approver_page.locator("tbody tr .status").filter(has_text="Followed")).to_have_count(17)
    screenshot(approver_page, "demo-follows-done")

    approver_page.get_by_role("navigation", name="Main").get_by_role(
        "link", name="Audit log", exact=True
    ).click()
    approver_page.get_by_label("Step").select_option(label="Follow executed")
    approver_page.get_by_role("button", name="Filter").click()
    executed = approver_page.locator(".audit-table tbody tr")
    expect(executed).to_have_count(17)
    for suggestion in approved:
        handle = suggestion.follower.handle
        done = re.compile(rf"(followed|asked to follow) @{re.escape(handle)}(\s|$)")
        expect(executed.filter(has_text=done)).to_have_count(1)
    screenshot(approver_page, "demo-audit-log-follows")

    approver_page.get_by_role("navigation", name="Main").get_by_role("link", name="Home").click()
    facts = approver_page.locator(".dash-facts")
    expect(facts.locator("div").filter(has_text="Follow-backs today").locator("dd")).to_have_text(
        f"17 of {policy.daily_follow_cap}"
    )
    expect(facts.locator("div").filter(has_text="Waiting for review").locator("dd")).to_have_text("0")
    expect(facts.locator("div").filter(has_text="second approver").locator("dd")).to_have_text("0")
    people = approver_page.get_by_role("table").filter(has_text="Rejected")
    expect(people.locator("tbody tr").filter(has_text=str(reviewer)).locator("td")).to_have_text(
        ["17", "3", "0", "20"]
    )
    expect(people.locator("tbody tr").filter(has_text=str(approver)).locator("td")).to_have_text(
        ["17", "0", "0", "17"]
    )
    expect(approver_page.locator(".activity").first).to_contain_text("Follow executed")
    screenshot(approver_page, "demo-brand-home")


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
