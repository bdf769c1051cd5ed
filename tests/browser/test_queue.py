"""The review queue in a real browser: clearing a day's queue from the keyboard, and a two-person approval."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Dialog, Page, expect
from pytest_django.live_server_helper import LiveServer

from accounts.models import Brand, User
from followback.models import Decision, DecisionKind, FollowAction, FollowState
from rules.models import Suggestion, SuggestionStatus
from tests.browser.conftest import SCREENSHOTS, htmx_settled, screenshot, sign_in
from tests.followback.queue_data import (
    CUSTOMER_REASON,
    ENGAGED_REASON,
    WATCH_REASON,
    connected_account,
    make_suggestion,
    require_second_approver,
)

pytestmark = pytest.mark.browser

NAMES = ["Ana Lima", "Bo Chen", "Chidi Okafor", "Dana Weiss", "Eli Haddad", "Fatima Noor", "Gus Berg",
         "Hana Sato", "Ivo Petrov", "Jade Moreau", "Kofi Mensah", "Lea Novak", "Milo Rossi", "Nia Evans",
         "Omar Aziz", "Pia Lund", "Quinn Park", "Rosa Díaz", "Sami Kallio", "Tess O'Neil"]  # fmt: skip


@pytest.fixture
def queue_of_20(brand: Brand) -> list[Suggestion]:
    account = connected_account(brand, "acme.coffee", display_name="Acme Coffee")
    rows = []
    for n, name in enumerate(NAMES):
        handle = name.split()[0].lower() + "@social.example"
        reasons = [ENGAGED_REASON, CUSTOMER_REASON] if n % 4 == 0 else [ENGAGED_REASON]
        if n % 5 == 2:
            reasons = [*reasons, WATCH_REASON]
        rows.append(
            make_suggestion(
                account,
                handle,
                score=95 - n,
                reasons=reasons,
                engagement=0.3 if n % 2 else 0.0,
                follower={
                    "display_name": name,
                    "is_customer": n % 4 == 0,
                    "bio": f"{name.split()[0]} writes about coffee, cycling and small-town bakeries.",
                },
            )
        )
    return rows


def viewport_screenshot(page: Page, name: str) -> None:
    """What a person sees without scrolling, at full resolution, next to the full-page screenshot."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}-viewport.png"), caret="initial")


def rows(page: Page):
    return page.locator("#queue-rows [data-row]")


def test_a_reviewer_clears_a_queue_of_20_with_the_keyboard(
    page: Page, live_server: LiveServer, brand: Brand, reviewer: User, queue_of_20: list[Suggestion]
) -> None:
    sign_in(page, live_server, reviewer)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Queue").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Review queue")
    expect(rows(page)).to_have_count(20)
    expect(page.locator("#queue-count")).to_contain_text("20")

    page.keyboard.press("?")
    expect(page.locator("#queue-help")).to_have_attribute("open", "")
    page.keyboard.press("?")
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("k")
    expect(rows(page).first).to_be_focused()
    screenshot(page, "queue-reviewer-start")
    viewport_screenshot(page, "queue-reviewer-start")

    for n in range(20):
        key = "arl"[n % 3]
        with htmx_settled(page):
            if key == "r":
                page.keyboard.press("r")
                expect(rows(page).first.get_by_placeholder("Reason (optional)")).to_be_focused()
                page.keyboard.type("Sells followers")
                page.keyboard.press("Enter")
            else:
                page.keyboard.press(key)
        expect(rows(page)).to_have_count(19 - n)
        if n == 9:
            expect(rows(page).first).to_be_focused()
            screenshot(page, "queue-reviewer-halfway")
            viewport_screenshot(page, "queue-reviewer-halfway")

    expect(page.locator(".queue-empty")).to_have_text("Nothing left here. Well done.")
    expect(page.locator("#queue-count")).to_contain_text("0")
    expect(page.locator('[data-count="later"]')).to_have_text("6")
    screenshot(page, "queue-reviewer-cleared")

    with htmx_settled(page):
        page.keyboard.press("u")
    expect(rows(page)).to_have_count(1)
    expect(page.locator("#toasts")).to_contain_text("is waiting for review again")

    decisions = Decision.objects.filter(actor=reviewer)
    assert decisions.filter(kind=DecisionKind.APPROVE).count() == 7
    assert decisions.filter(kind=DecisionKind.REJECT, reason="Sells followers").count() == 7
    assert decisions.filter(kind=DecisionKind.LATER).count() == 6
    assert decisions.filter(kind=DecisionKind.UNDO).count() == 1
    assert FollowAction.objects.filter(state=FollowState.QUEUED).count() == 7


def test_shortcuts_can_be_switched_off_and_stay_off(
    page: Page, live_server: LiveServer, brand: Brand, reviewer: User, queue_of_20: list[Suggestion]
) -> None:
    sign_in(page, live_server, reviewer)
    page.goto(f"{live_server.url}/b/{brand.slug}/queue/")
    page.get_by_role("switch", name="Keyboard shortcuts").uncheck()
    page.reload()
    expect(page.get_by_role("switch", name="Keyboard shortcuts")).not_to_be_checked()
    page.keyboard.press("j")
    page.keyboard.press("a")
    expect(rows(page)).to_have_count(20)
    assert not Decision.objects.exists()


def test_before_any_move_a_shortcut_acts_on_the_top_suggestion(
    page: Page, live_server: LiveServer, brand: Brand, reviewer: User, queue_of_20: list[Suggestion]
) -> None:
    sign_in(page, live_server, reviewer)
    page.goto(f"{live_server.url}/b/{brand.slug}/queue/")
    top = rows(page).first.get_attribute("id")
    with htmx_settled(page):
        page.keyboard.press("l")
    expect(rows(page)).to_have_count(19)
    assert Decision.objects.get().suggestion_id == queue_of_20[0].pk
    assert top == f"suggestion-{queue_of_20[0].pk}"


def test_the_next_page_arrives_while_a_few_rows_are_still_left_to_decide(
    page: Page, live_server: LiveServer, brand: Brand, reviewer: User
) -> None:
    account = connected_account(brand, "acme.coffee")
    for n in range(32):
        make_suggestion(account, f"person{n:02d}@social.example", score=90 - n)
    sign_in(page, live_server, reviewer)
    page.goto(f"{live_server.url}/b/{brand.slug}/queue/")
    expect(rows(page)).to_have_count(25)
    for _ in range(20):
        page.keyboard.press("j")
    expect(page.locator("#queue-rows .is-current")).to_contain_text("@person19@social.example")
    expect(rows(page)).to_have_count(25)
    page.keyboard.press("j")
    expect(rows(page)).to_have_count(32)
    expect(page.locator("#queue-more a")).to_have_count(0)
    expect(rows(page).nth(31)).to_contain_text("@person31@social.example")
    expect(page.locator("#queue-rows .is-current")).to_contain_text("@person20@social.example")


def test_bulk_approval_asks_once_and_covers_only_the_rows_on_screen(
    page: Page, live_server: LiveServer, brand: Brand, reviewer: User, queue_of_20: list[Suggestion]
) -> None:
    sign_in(page, live_server, reviewer)
    page.goto(f"{live_server.url}/b/{brand.slug}/queue/?min_score=90")
    expect(rows(page)).to_have_count(6)
    page.get_by_label("Select all on screen").check()
    expect(page.locator("[data-selected-count]")).to_have_text("6 selected")
    asked: list[str] = []

    def answer(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.once("dialog", answer)
    with htmx_settled(page):
        page.get_by_role("button", name="Approve selected").click()
    assert asked == ["Approve 6 selected suggestions? Each is recorded as your own decision."]
    expect(page.locator("#toasts")).to_contain_text("Approved 6 suggestions.")
    expect(page.locator('[data-count="pending"]')).to_have_text("14")
    assert Decision.objects.filter(actor=reviewer, kind=DecisionKind.APPROVE).count() == 6


def test_without_javascript_a_bulk_approval_asks_on_a_page_listing_them_first(
    new_page: Callable[..., Page],
    live_server: LiveServer,
    brand: Brand,
    reviewer: User,
    queue_of_20: list[Suggestion],
) -> None:
    page = new_page(java_script_enabled=False)
    sign_in(page, live_server, reviewer)
    page.goto(f"{live_server.url}/b/{brand.slug}/queue/?min_score=90")
    expect(rows(page)).to_have_count(6)
    for row in queue_of_20[:3]:
        page.locator(f"#suggestion-{row.pk}").get_by_role("checkbox").check()
    page.get_by_role("button", name="Reject selected").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Reject 3 suggestions?")
    listed = page.locator(".bulk-confirm-list li")
    expect(listed).to_have_count(3)
    expect(listed.first).to_contain_text("Ana Lima")
    assert not Decision.objects.exists()
    screenshot(page, "queue-bulk-confirm-no-javascript")

    page.get_by_role("button", name="Cancel").click()
    expect(rows(page)).to_have_count(6)
    assert not Decision.objects.exists()

    for row in queue_of_20[:2]:
        page.locator(f"#suggestion-{row.pk}").get_by_role("checkbox").check()
    page.get_by_role("button", name="Approve selected").click()
    page.get_by_role("button", name="Approve 2 suggestions").click()

    expect(page.locator("#toasts")).to_contain_text("Approved 2 suggestions.")
    expect(rows(page)).to_have_count(4)
    assert page.url.endswith("/queue/?min_score=90")
    assert Decision.objects.filter(actor=reviewer, kind=DecisionKind.APPROVE).count() == 2


def test_a_two_person_approval_by_a_reviewer_and_an_approver(
    new_page: Callable[..., Page],
    live_server: LiveServer,
    brand: Brand,
    owner: User,
    reviewer: User,
    approver: User,
    queue_of_20: list[Suggestion],
) -> None:
    require_second_approver(brand, owner)
    first = queue_of_20[0]
    reviewer_page, approver_page = new_page(), new_page()
    sign_in(reviewer_page, live_server, reviewer)
    sign_in(approver_page, live_server, approver)
    reviewer_page.goto(f"{live_server.url}/b/{brand.slug}/queue/")
    row = reviewer_page.locator(f"#suggestion-{first.pk}")
    expect(row.get_by_role("button", name="Approve (1 of 2)")).to_be_visible()
    with htmx_settled(reviewer_page):
        row.get_by_role("button", name="Approve (1 of 2)").click()
    expect(row).to_have_count(0)
    expect(reviewer_page.locator("#toasts")).to_contain_text("it now waits for a second approver")
    expect(reviewer_page.locator('[data-count="awaiting"]')).to_have_text("1")

    approver_page.goto(f"{live_server.url}/b/{brand.slug}/queue/?tab=awaiting")
    waiting = approver_page.locator(f"#suggestion-{first.pk}")
    expect(waiting).to_contain_text(f"Approved by {reviewer}")
    screenshot(approver_page, "queue-approver-awaiting")
    viewport_screenshot(approver_page, "queue-approver-awaiting")
    with htmx_settled(approver_page):
        waiting.get_by_role("button", name="Give final approval").click()
    expect(waiting).to_have_count(0)
    expect(approver_page.locator("#toasts")).to_contain_text("the follow is queued")

    first.refresh_from_db()
    assert (first.status, first.proposed_by, first.decided_by) == (
        SuggestionStatus.APPROVED,
        reviewer,
        approver,
    )
    action = FollowAction.objects.get(suggestion=first)
    assert (action.state, action.approved_by) == (FollowState.QUEUED, approver)

    reviewer_page.goto(f"{live_server.url}/b/{brand.slug}/queue/?tab=decided")
    expect(reviewer_page.locator(f"#suggestion-{first.pk}")).to_contain_text(f"Approved by {approver}")
    screenshot(reviewer_page, "queue-reviewer-decided-today")


def test_when_two_people_decide_the_same_row_the_second_sees_who_won(
    new_page: Callable[..., Page],
    live_server: LiveServer,
    brand: Brand,
    reviewer: User,
    approver: User,
    queue_of_20: list[Suggestion],
) -> None:
    first = queue_of_20[0]
    mine, theirs = new_page(), new_page()
    sign_in(mine, live_server, reviewer)
    sign_in(theirs, live_server, approver)
    for page in (mine, theirs):
        page.goto(f"{live_server.url}/b/{brand.slug}/queue/")
    with htmx_settled(theirs):
        theirs.locator(f"#suggestion-{first.pk}").get_by_role("button", name="Reject").click()
    row = mine.locator(f"#suggestion-{first.pk}")
    with htmx_settled(mine):
        row.get_by_role("button", name="Approve").click()
    expect(row).to_contain_text(f"Rejected by {approver}.")
    expect(mine.locator("#toasts")).to_contain_text(f"{approver} already rejected this.")
    screenshot(mine, "queue-conflict")
    viewport_screenshot(mine, "queue-conflict")
    assert Decision.objects.count() == 1
