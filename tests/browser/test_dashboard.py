"""The brand home with a month of data, and the audit log an approver reads from it, in a real browser."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from accounts.models import AuditEvent, Brand, SyncKind, SyncRun, User
from accounts.services import record
from followback.models import DecisionKind, FollowState
from rules.models import SuggestionStatus as S
from tests.browser.conftest import screenshot, sign_in
from tests.followback.queue_data import connected_account, make_suggestion
from tests.followback.test_dashboard import decide, follow, followers_pass, today_at

pytestmark = pytest.mark.browser

# New followers and unfollows per day over the month, oldest first: a calm account with one busy week.
NEW = [4, 6, 3, 8, 5, 2, 7, 9, 4, 3, 5, 6, 12, 18, 25, 16, 9, 7, 5, 6, 4, 8, 3, 5, 7, 6, 4, 9, 5, 6]
GONE = [1, 2, 0, 3, 1, 1, 2, 4, 1, 0, 2, 1, 3, 2, 4, 6, 2, 1, 2, 3, 1, 2, 0, 1, 2, 1, 3, 2, 1, 2]


@pytest.fixture
def month(brand: Brand, owner: User, reviewer: User, approver: User) -> Brand:
    account = connected_account(brand, handle="acme@coffee.social", followers_count=1480)
    SyncRun.objects.filter(account=account).delete()
    followers_pass(account, today_at(5, days_ago=60), new=1200)  # the first pass: a starting point
    for days_ago, (new, gone) in enumerate(zip(reversed(NEW), reversed(GONE), strict=True)):
        followers_pass(account, today_at(5, days_ago=days_ago) - timedelta(hours=1), new=new, unfollowed=gone)
    SyncRun.objects.create(account=account, kind=SyncKind.PROFILES, status="done", finished_at=timezone.now())
    for i in range(14):
        make_suggestion(account, f"pending_fan{i}")
    make_suggestion(account, "waiting_for_you", status=S.AWAITING_APPROVAL, proposed_by=reviewer)
    for i in range(3):
        make_suggestion(account, f"held_bot{i}", status=S.HELD)
    now = timezone.now()
    for i in range(9):
        suggestion = make_suggestion(account, f"approved{i}", status=S.APPROVED, decided_at=now)
        decide(suggestion, reviewer if i < 6 else approver, DecisionKind.APPROVE)
        follow(
            suggestion, FollowState.DONE if i < 7 else FollowState.QUEUED, executed_at=now if i < 7 else None
        )
    for i in range(3):
        suggestion = make_suggestion(account, f"rejected{i}", status=S.REJECTED, decided_at=now)
        decide(suggestion, reviewer, DecisionKind.REJECT)
    record(brand, "policy.changed", f"{owner} raised the threshold from 55 to 60", actor=owner)
    record(brand, "queue.built", "Today's queue: 14 suggested, 3 held by rules", actor=None)
    record(brand, "suggestion.approved", f"{reviewer} approved @approved0", actor=reviewer)
    record(brand, "suggestion.rejected", f"{reviewer} rejected @rejected0", actor=reviewer)
    record(brand, "follow.executed", "acme@coffee.social followed @approved0", actor=None)
    record(
        brand, "suggestion.commented", '=HYPERLINK("http://evil.example") is a spam pattern', actor=approver
    )
    return brand


def test_an_approver_reads_the_brand_home_and_follows_it_into_the_audit_log(
    page: Page, live_server: LiveServer, month: Brand, approver: User
) -> None:
    sign_in(page, live_server, approver)
    expect(page.get_by_role("heading", level=1)).to_have_text("Acme Coffee")

    facts = page.locator(".dash-facts")
    expect(facts.locator("div").filter(has_text="Waiting for review").locator("dd")).to_have_text("14")
    expect(facts.locator("div").filter(has_text="second approver").locator("dd")).to_have_text("1")
    expect(facts.locator("div").filter(has_text="Held").locator("dd")).to_have_text("3")
    expect(facts.locator("div").filter(has_text="Follow-backs today").locator("dd")).to_have_text("7 of 50")
    expect(facts.locator("div").filter(has_text="Approval rate").locator("dd")).to_have_text("75%")
    expect(page.get_by_role("img", name="Followers at the end of each day")).to_be_visible()
    expect(page.locator(".chart-dot")).to_have_count(30)
    # The numbers are there for screen readers as a table, even though it is not shown.
    table = page.get_by_role("table", name="Followers per day, last 30 days")
    expect(table.locator("tbody tr")).to_have_count(30)
    expect(table.locator("tbody tr").last.locator("td").first).to_have_text("1480")
    people = page.get_by_role("table").filter(has_text="Rejected")
    expect(people.locator("tbody tr").first.locator("th")).to_have_text(
        str(month.memberships.get(role="reviewer").user)
    )
    expect(page.locator(".dash-accounts")).to_contain_text("Profiles sync finished")
    screenshot(page, "brand-home-dashboard")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit log", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Audit log")
    rows = page.locator(".audit-table tbody tr")
    expect(rows).to_have_count(AuditEvent.objects.filter(brand=month).count())
    expect(rows.first).to_contain_text("Commented")
    screenshot(page, "audit-log")

    page.get_by_label("Step").select_option(label="All: decisions and comments")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(3)
    expect(page.get_by_role("link", name="Download these events as CSV")).to_have_attribute(
        "href", "/b/acme/audit.csv?verb=suggestion"
    )
    screenshot(page, "audit-log-filtered")


def test_a_viewer_sees_the_dashboard_without_the_audit_log(
    page: Page, live_server: LiveServer, month: Brand, viewer: User
) -> None:
    sign_in(page, live_server, viewer)
    expect(page.get_by_role("img", name="New followers (up) and unfollows (down) per day")).to_be_visible()
    expect(page.get_by_role("link", name="Audit log", exact=True)).to_have_count(0)
    expect(page.get_by_role("link", name="The whole audit log")).to_have_count(0)
