"""The brand home: followers over time, what waits, today's work, approval rate and syncs, in constant queries."""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.jobs import JobStatus
from accounts.models import Brand, ConnectedAccount, SyncKind, SyncRun, User
from followback import dashboard
from followback.models import Decision, DecisionKind, FollowAction, FollowState
from rules.models import Suggestion, SuggestionStatus
from rules.services import current_policy
from tests.conftest import client_for
from tests.factories import MembershipFactory
from tests.followback.queue_data import connected_account, make_suggestion

S = SuggestionStatus


def today_at(hour: int, days_ago: int = 0):
    now = timezone.now().astimezone(UTC)
    return now.replace(hour=hour, minute=0, second=0, microsecond=0) - timedelta(days=days_ago)


def followers_pass(
    account: ConnectedAccount, finished, *, new=0, back=0, unfollowed=0, complete=True
) -> SyncRun:
    return SyncRun.objects.create(
        account=account, kind=SyncKind.FOLLOWERS, status=JobStatus.DONE if complete else JobStatus.FAILED,
        finished_at=finished, created=new, refollowed=back, unfollowed=unfollowed, complete=complete,
    )  # fmt: skip


def decide(suggestion: Suggestion, actor: User, kind: DecisionKind, at=None) -> Decision:
    return Decision.objects.create(
        brand=suggestion.brand, suggestion=suggestion, actor=actor, kind=kind, from_status="pending",
        to_status="approved", policy_version=suggestion.policy_version, score=suggestion.score,
        created_at=at or timezone.now(),
    )  # fmt: skip


def follow(suggestion: Suggestion, state: FollowState, executed_at=None) -> FollowAction:
    return FollowAction.objects.create(
        brand=suggestion.brand, account=suggestion.account, follower=suggestion.follower, suggestion=suggestion,
        state=state, executed_at=executed_at,
    )  # fmt: skip


@pytest.fixture
def busy_brand(brand: Brand, reviewer: User, approver: User) -> Brand:
    """A month of syncs, a queue, today's decisions and follows."""
    account = connected_account(brand, followers_count=1000)
    # The first complete pass found 990 existing followers: the starting point, not 990 new ones.
    followers_pass(account, today_at(6, days_ago=20), new=990)
    followers_pass(account, today_at(6, days_ago=3), new=10, unfollowed=4)
    followers_pass(account, today_at(6, days_ago=1), complete=False, new=0)
    followers_pass(account, today_at(0), new=5, back=1, unfollowed=2)
    for i in range(3):
        make_suggestion(account, f"pending{i}")
    make_suggestion(account, "awaiting0", status=S.AWAITING_APPROVAL, proposed_by=reviewer)
    for i in range(2):
        make_suggestion(account, f"held{i}", status=S.HELD)
    now = timezone.now()
    approved = [
        make_suggestion(account, f"approved{i}", status=S.APPROVED, decided_by=approver, decided_at=now)
        for i in range(3)
    ]
    rejected = make_suggestion(account, "rejected0", status=S.REJECTED, decided_by=reviewer, decided_at=now)
    make_suggestion(account, "old", status=S.REJECTED, decided_at=now - timedelta(days=40))
    for suggestion in approved[:2]:
        decide(suggestion, reviewer, DecisionKind.APPROVE)
    decide(rejected, reviewer, DecisionKind.REJECT)
    decide(approved[2], approver, DecisionKind.APPROVE)
    decide(approved[2], approver, DecisionKind.LATER, at=now - timedelta(days=2))
    follow(approved[0], FollowState.DONE, executed_at=now)
    follow(approved[1], FollowState.FAILED)
    follow(approved[2], FollowState.QUEUED)
    return brand


def test_follower_history_counts_back_from_todays_total_since_the_first_sync(busy_brand):
    data = dashboard.brand_dashboard(busy_brand)
    days = data["chart"].days
    assert len(days) == 21  # the first complete pass was 20 days ago: before it we knew nothing
    assert days[-1].day == timezone.now().astimezone(UTC).date()
    assert (days[-1].followers, days[-1].new, days[-1].unfollowed) == (1000, 6, 2)
    assert days[-2].followers == 996  # yesterday's failed pass changed nothing
    assert (days[-4].followers, days[-4].new, days[-4].unfollowed) == (996, 10, 4)
    assert days[-5].followers == 990
    # The starting pass is not shown as 990 new followers.
    assert (days[0].followers, days[0].new) == (990, 0)
    assert data["chart"].total_new == 16
    assert data["chart"].total_unfollowed == 6
    assert data["chart"].has_history


def test_one_day_of_syncs_is_no_history_yet(brand):
    account = connected_account(brand, followers_count=2000)
    followers_pass(account, today_at(0), new=2000)
    chart = dashboard.brand_dashboard(brand)["chart"]
    assert [(day.followers, day.new) for day in chart.days] == [(2000, 0)]
    assert not chart.has_history


def test_queue_counts_follows_and_approval_rate(busy_brand):
    data = dashboard.brand_dashboard(busy_brand)
    assert data["queue_counts"] == {"pending": 3, "awaiting": 1, "held": 2}
    follows = data["follows"]
    assert (follows.done_today, follows.in_flight, follows.failed) == (1, 1, 1)
    assert follows.cap == current_policy(busy_brand).policy.daily_follow_cap
    connected_account(busy_brand, handle="second.demo")
    # The cap applies to each connected account.
    assert dashboard.brand_dashboard(busy_brand)["follows"].cap == 2 * follows.cap
    # Three approved and one rejected in 30 days; the one rejected 40 days ago does not count.
    assert (data["approval"].approved, data["approval"].rejected, data["approval"].percent) == (3, 1, 75)


def test_the_home_page_shows_follows_waiting_for_tomorrows_cap(brand, viewer, approver):
    account = connected_account(brand)
    now = timezone.now()
    tomorrow = dashboard.day_start(now.astimezone(UTC).date()) + timedelta(days=1)
    follow(make_suggestion(account, "done", status=S.APPROVED), FollowState.DONE, executed_at=now)
    for n in range(2):
        action = follow(make_suggestion(account, f"waits{n}", status=S.APPROVED), FollowState.QUEUED)
        FollowAction.objects.filter(pk=action.pk).update(run_after=tomorrow)
    follow(make_suggestion(account, "soon", status=S.APPROVED), FollowState.QUEUED)

    follows = dashboard.brand_dashboard(brand)["follows"]
    assert (follows.done_today, follows.in_flight, follows.waiting_for_tomorrow) == (1, 3, 2)
    page = client_for(viewer).get(reverse("brand_home", kwargs={"brand": brand.slug})).content.decode()
    assert (
        "3 on the way</a>, "
        '<span class="dash-waiting-tomorrow">2 waiting for tomorrow: today\'s cap is reached' in page
    )


def test_decisions_today_are_counted_per_person_most_active_first(busy_brand, reviewer, approver):
    people = dashboard.decisions_today(busy_brand, dashboard.day_start(timezone.now().astimezone(UTC).date()))
    assert [(p.name, p.approved, p.rejected, p.later, p.total) for p in people] == [
        (reviewer.name, 2, 1, 0, 3),
        (approver.name, 1, 0, 0, 1),
    ]


def test_each_account_shows_its_newest_sync(busy_brand):
    account: Any  # annotated with its newest run
    (account,) = dashboard.accounts_with_last_sync(busy_brand)
    assert account.run_status == JobStatus.DONE
    assert account.run_kind == SyncKind.FOLLOWERS


def test_a_new_brand_shows_an_empty_but_calm_home(brand, viewer):
    response = client_for(viewer).get(reverse("brand_home", kwargs={"brand": brand.slug}))
    page = response.content.decode()
    assert response.status_code == 200
    assert "No account is connected yet." in page
    assert "Nobody has decided anything yet today." in page
    assert "No follower history yet" in page
    assert "<svg" not in page
    assert response.context["chart"].days == []


def test_the_home_page_shows_the_numbers_as_a_table_for_screen_readers(busy_brand, viewer):
    page = client_for(viewer).get(reverse("brand_home", kwargs={"brand": busy_brand.slug})).content.decode()
    assert "<caption>Followers per day, last 30 days</caption>" in page
    assert '<svg class="chart-svg"' in page
    assert "style=" not in page
    today = timezone.now().astimezone(UTC).date()
    assert f'<th scope="row">{today:%-d %B %Y}</th><td>1000</td><td>6</td><td>2</td>' in page


def test_the_home_page_runs_a_constant_number_of_queries(
    busy_brand, viewer, reviewer, django_assert_num_queries
):
    client = client_for(viewer)
    url = reverse("brand_home", kwargs={"brand": busy_brand.slug})
    client.get(url)
    with django_assert_num_queries(15) as small:
        client.get(url)
    # Much more of everything: accounts, syncs, people, decisions, follows, events.
    for n in range(4):
        account = connected_account(busy_brand, handle=f"more{n}.demo", followers_count=50)
        for day in range(10):
            followers_pass(account, today_at(3, days_ago=day), new=3, unfollowed=1)
        person = MembershipFactory(brand=busy_brand).user
        for i in range(5):
            suggestion = make_suggestion(
                account, f"more{n}_{i}", status=S.APPROVED, decided_at=timezone.now()
            )
            decide(suggestion, person, DecisionKind.APPROVE)
            follow(suggestion, FollowState.DONE, executed_at=timezone.now())
    with django_assert_num_queries(len(small.captured_queries)):
        response = client.get(url)
    assert len(response.context["accounts"]) == 5
    assert len(response.context["people_today"]) == 6
