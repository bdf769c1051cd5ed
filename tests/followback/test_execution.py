"""Follow execution on PostgreSQL against a fake Mastodon over real HTTP, counting the follows that really happened."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from types import SimpleNamespace
from typing import Any

import pytest
from django.utils import timezone

from accounts import crypto, jobs
from accounts.jobs import JobStatus
from accounts.models import AccountStatus, AuditEvent, Brand, ConnectedAccount, Follower, Platform, User
from accounts.platforms import bluesky
from followback import execution
from followback.execution import FollowRefused, cancel_follow, execute_follow, follow_allowed, queue_follow
from followback.models import AccountRateLimit, FollowAction, FollowState
from followback.tasks import sweep_jobs
from rules import services as rules_services
from rules.models import Suggestion, SuggestionStatus
from rules.policy import PolicySettings
from tests.fakes.bluesky import FakeBluesky
from tests.fakes.mastodon import BRAND_ID, DEFAULT_ACCESS_TOKEN, FakeMastodon
from tests.followback.test_review import at_once

FOLLOW_TASK = "followback.tasks.execute_follow"


# Helpers the view, worker and browser tests share.


def mastodon_account(brand: Brand, fake: FakeMastodon, **fields: Any) -> ConnectedAccount:
    defaults: dict[str, Any] = {
        "platform": Platform.MASTODON,
        "platform_user_id": BRAND_ID,
        "handle": "acmecoffee@fake.social",
        "server_url": fake.url,
        "credentials_ciphertext": crypto.encrypt_json({"access_token": DEFAULT_ACCESS_TOKEN}),
        "followers_count": 1000,
        "following_count": 100,
    }
    return ConnectedAccount.objects.create(brand=brand, **{**defaults, **fields})


def approved_suggestion(account: ConnectedAccount, platform_id: str, handle: str) -> Suggestion:
    follower = Follower.objects.create(
        account=account, platform_id=platform_id, handle=handle, display_name=handle.split("@")[0].title()
    )
    return Suggestion.objects.create(
        brand=account.brand,
        account=account,
        follower=follower,
        status=SuggestionStatus.APPROVED,
        policy_version=rules_services.current_policy(account.brand),
        score=80,
        rule="",
        expires_at=timezone.now() + timedelta(days=14),
    )


def follow_action(suggestion: Suggestion, approver: User | None, **fields: Any) -> FollowAction:
    """A follow action written directly, past the guards, as if approved earlier."""
    defaults: dict[str, Any] = {"run_after": timezone.now() - timedelta(seconds=1)}
    return FollowAction.objects.create(
        brand=suggestion.brand,
        account=suggestion.account,
        follower=suggestion.follower,
        suggestion=suggestion,
        approved_by=approver,
        **{**defaults, **fields},
    )


def set_policy(brand: Brand, by: User, **changes: Any) -> None:
    rules_services.save_policy(brand, replace(PolicySettings(), **changes), by=by)


def audit_verbs(action: FollowAction) -> list[str]:
    events = AuditEvent.objects.filter(target_type="followback.followaction", target_id=str(action.pk))
    return list(events.order_by("id").values_list("verb", flat=True))


# Fixtures.


@pytest.fixture
def account(brand: Brand, fake: FakeMastodon) -> ConnectedAccount:
    return mastodon_account(brand, fake)


@pytest.fixture
def target(fake: FakeMastodon) -> str:
    return fake.add_account("alice@remote.example")


@pytest.fixture
def suggestion(account: ConnectedAccount, target: str) -> Suggestion:
    return approved_suggestion(account, target, "alice@remote.example")


@pytest.fixture
def no_undo_window(settings: Any) -> None:
    settings.FOLLOWBACK_UNDO_SECONDS = 0


@pytest.fixture
def sent_jobs(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list[Any], object]]:
    """Broker messages the code sends, recorded instead of reaching Redis."""
    sent: list[tuple[str, list[Any], object]] = []

    def send_task(name: str, args: list[Any], eta: object = None) -> None:
        sent.append((name, args, eta))

    monkeypatch.setattr(jobs, "current_app", SimpleNamespace(send_task=send_task))
    return sent


def refreshed(action: FollowAction) -> FollowAction:
    action.refresh_from_db()
    return action


# The state table.


def test_the_transition_table_covers_every_state_and_a_done_follow_is_final():
    assert set(FollowAction.transitions) == set(FollowState)
    assert FollowAction.transitions[FollowState.DONE] == frozenset()
    assert FollowAction.transitions[FollowState.FAILED] == {FollowState.QUEUED}
    assert FollowAction.transitions[FollowState.CANCELLED] == {FollowState.QUEUED}
    for state in FollowState.in_flight():
        assert FollowState.DONE in FollowAction.transitions[state]
        assert FollowState.FAILED in FollowAction.transitions[state]
    assert FollowState.CANCELLED not in FollowAction.transitions[FollowState.EXECUTING]


# Queueing at approval.


def test_an_approval_queues_a_follow_that_waits_out_the_undo_window(
    brand, approver, suggestion, settings, sent_jobs, django_capture_on_commit_callbacks
):
    settings.FOLLOWBACK_UNDO_SECONDS = 60
    now = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        action = queue_follow(suggestion, approver, now=now)

    assert (action.state, action.status, action.approved_by) == (
        FollowState.QUEUED,
        JobStatus.QUEUED,
        approver,
    )
    assert action.run_after == now + timedelta(seconds=60)
    assert sent_jobs == [(FOLLOW_TASK, [action.pk], action.run_after)]
    assert audit_verbs(action) == ["follow.queued"]
    assert execute_follow(action.pk) is None  # not due yet: nothing runs inside the undo window


def test_queueing_the_same_approval_twice_keeps_one_follow(approver, suggestion):
    first = queue_follow(suggestion, approver)
    assert queue_follow(suggestion, approver).pk == first.pk
    assert FollowAction.objects.count() == 1


def test_an_approval_over_the_daily_cap_waits_for_tomorrow_and_says_so(
    brand, owner, approver, account, fake, settings, sent_jobs, django_capture_on_commit_callbacks
):
    settings.FOLLOWBACK_UNDO_SECONDS = 60
    set_policy(brand, owner, daily_follow_cap=2)
    for number in range(2):
        follow_action(approved_suggestion(account, f"9{number}", f"early{number}@x.example"), approver)
    late = approved_suggestion(account, fake.add_account("late@x.example"), "late@x.example")
    now = timezone.now()

    with django_capture_on_commit_callbacks(execute=True):
        action = queue_follow(late, approver, now=now)

    tomorrow = execution.day_start(now) + timedelta(days=1)
    assert (action.state, action.status, action.run_after) == (FollowState.QUEUED, JobStatus.QUEUED, tomorrow)
    assert action.waiting_reason == "Waiting for tomorrow: today's cap of 2 follows is reached"
    assert sent_jobs == [(FOLLOW_TASK, [action.pk], tomorrow)]
    queued = AuditEvent.objects.get(verb="follow.queued", target_id=str(action.pk))
    assert queued.summary.endswith("it waits for tomorrow: today's cap of 2 follows is reached")
    assert queued.data["run_after"] == tomorrow.isoformat()
    assert execute_follow(action.pk) is None  # not due before tomorrow
    assert fake.follows_done == []
    # It does not count against today's cap: today still counts the two due today.
    check = follow_allowed(account, rules_services.current_policy(brand).policy, now)
    assert check.why == "the daily cap of 2 follows is reached (2 approved today)"


def test_an_approval_over_the_cap_just_before_midnight_still_waits_out_the_undo_window(
    brand, owner, approver, account, target, settings
):
    settings.FOLLOWBACK_UNDO_SECONDS = 120
    set_policy(brand, owner, daily_follow_cap=1)
    follow_action(approved_suggestion(account, "1", "a@x"), approver)
    midnight = execution.day_start(timezone.now()) + timedelta(days=1)

    action = queue_follow(
        approved_suggestion(account, target, "alice@remote.example"),
        approver,
        now=midnight - timedelta(seconds=30),
    )

    assert action.run_after == midnight + timedelta(seconds=90)
    assert action.waiting_reason.startswith("Waiting for tomorrow")


def test_at_the_daily_cap_the_ratio_guard_still_refuses_the_approval(brand, owner, approver, fake, target):
    account = mastodon_account(brand, fake, followers_count=10, following_count=15)
    set_policy(brand, owner, daily_follow_cap=1)
    follow_action(approved_suggestion(account, "1", "a@x"), approver, state=FollowState.DONE,
                  executed_at=timezone.now())  # fmt: skip

    with pytest.raises(FollowRefused, match=r"would pass 1\.5 times 10 followers, 15"):
        queue_follow(approved_suggestion(account, target, "alice@remote.example"), approver)
    assert FollowAction.objects.count() == 1


def test_at_the_daily_cap_the_platforms_following_cap_still_refuses_the_approval(
    brand, owner, approver, fake, target
):
    account = mastodon_account(brand, fake, followers_count=100_000, following_count=7_500)
    set_policy(brand, owner, daily_follow_cap=1)
    follow_action(approved_suggestion(account, "1", "a@x"), approver)  # following 7,501 once it runs

    with pytest.raises(FollowRefused, match="would pass the cap of 7,500 on Mastodon"):
        queue_follow(approved_suggestion(account, target, "alice@remote.example"), approver)
    assert FollowAction.objects.count() == 1


def test_follows_done_yesterday_cancelled_or_failed_leave_todays_cap_alone(brand, owner, approver, account):
    set_policy(brand, owner, daily_follow_cap=3)
    yesterday = timezone.now() - timedelta(days=1)
    follow_action(
        approved_suggestion(account, "1", "a@x"), approver, state=FollowState.DONE, executed_at=yesterday
    )
    follow_action(approved_suggestion(account, "2", "b@x"), approver, state=FollowState.CANCELLED)
    follow_action(approved_suggestion(account, "3", "c@x"), approver, state=FollowState.FAILED)
    follow_action(approved_suggestion(account, "4", "d@x"), approver, state=FollowState.DONE,
                  executed_at=timezone.now())  # fmt: skip

    check = follow_allowed(account, rules_services.current_policy(brand).policy, timezone.now())

    assert check.allowed, check.why
    assert "within today's cap (2 of 3)" in check.why


def test_a_follow_waiting_for_tomorrow_counts_against_tomorrows_cap_not_todays(
    brand, owner, approver, account
):
    set_policy(brand, owner, daily_follow_cap=1)
    now = timezone.now()
    tomorrow = execution.day_start(now) + timedelta(days=1)
    follow_action(approved_suggestion(account, "1", "a@x"), approver, run_after=tomorrow)
    policy = rules_services.current_policy(brand).policy

    assert follow_allowed(account, policy, now).allowed
    tomorrows = follow_allowed(account, policy, tomorrow + timedelta(hours=1))
    assert (tomorrows.allowed, tomorrows.cap_reached) == (False, True)


def test_queued_follows_count_as_following_for_the_ratio_guard(brand, approver, fake, target):
    account = mastodon_account(brand, fake, followers_count=10, following_count=14)
    follow_action(approved_suggestion(account, "1", "a@x"), approver)  # following 15 once it runs
    suggestion = approved_suggestion(account, target, "alice@remote.example")

    with pytest.raises(FollowRefused, match=r"would pass 1\.5 times 10 followers, 15"):
        queue_follow(suggestion, approver)


def test_an_account_that_needs_reconnecting_cannot_take_an_approval(brand, approver, fake, target):
    account = mastodon_account(brand, fake, status=AccountStatus.AUTH_EXPIRED)
    with pytest.raises(FollowRefused, match="needs reconnecting"):
        queue_follow(approved_suggestion(account, target, "alice@remote.example"), approver)


# Cancelling on undo.


def test_undoing_a_decision_cancels_its_follow_before_it_starts(approver, suggestion, fake):
    action = queue_follow(suggestion, approver)

    assert cancel_follow(suggestion, by=approver) is True
    assert (refreshed(action).state, action.status) == (FollowState.CANCELLED, JobStatus.DONE)
    assert audit_verbs(action) == ["follow.queued", "follow.cancelled"]
    assert cancel_follow(suggestion) is False
    action.run_after = timezone.now() - timedelta(seconds=1)
    action.save()
    assert execute_follow(action.pk) is None
    assert fake.follows_done == []


def test_a_follow_that_started_cannot_be_cancelled(approver, suggestion):
    follow_action(suggestion, approver, state=FollowState.EXECUTING, status=JobStatus.RUNNING)
    assert cancel_follow(suggestion) is False
    assert FollowAction.objects.get(suggestion=suggestion).state == FollowState.EXECUTING


def test_approving_again_after_an_undo_queues_the_same_follow_again(approver, reviewer, suggestion):
    action = queue_follow(suggestion, reviewer)
    cancel_follow(suggestion)

    again = queue_follow(suggestion, approver)

    assert again.pk == action.pk
    assert (again.state, again.status, again.approved_by) == (FollowState.QUEUED, JobStatus.QUEUED, approver)


# Executing.


def test_a_queued_follow_runs_once_and_is_recorded_as_done(
    approver, account, suggestion, fake, target, no_undo_window
):
    action = queue_follow(suggestion, approver)

    execute_follow(action.pk)
    execute_follow(action.pk)  # a duplicate broker message

    action = refreshed(action)
    assert (action.state, action.status) == (FollowState.DONE, JobStatus.DONE)
    assert action.executed_at is not None
    assert fake.follows_done == [target]
    assert fake.calls("/api/v1/accounts/relationships") == []  # a first attempt asks directly
    assert audit_verbs(action) == ["follow.queued", "follow.executed"]
    account.refresh_from_db()
    assert account.following_count == 101


def test_a_follow_whose_records_belong_to_two_brands_makes_no_platform_call(
    approver, account, suggestion, fake, other_brand, no_undo_window
):
    action = queue_follow(suggestion, approver)
    elsewhere = mastodon_account(other_brand, fake, platform_user_id="999", handle="other@fake.social")
    FollowAction.objects.filter(pk=action.pk).update(account=elsewhere)

    execute_follow(action.pk)

    action = refreshed(action)
    assert action.state == FollowState.FAILED
    assert (
        "do not belong to one brand"
        in action.last_error
        + action.waiting_reason
        + action.platform_reason
        + (AuditEvent.objects.filter(verb="follow.failed").values_list("summary", flat=True).first() or "")
    )
    assert fake.requests == []


def test_a_follow_of_a_locked_account_is_a_request_and_says_so(approver, account, fake, no_undo_window):
    locked = fake.add_account("private@remote.example", locked=True)
    action = queue_follow(approved_suggestion(account, locked, "private@remote.example"), approver)

    execute_follow(action.pk)

    action = refreshed(action)
    assert action.state == FollowState.DONE
    assert "approves followers by hand" in action.platform_reason
    account.refresh_from_db()
    assert account.following_count == 100


def test_a_worker_that_died_mid_call_is_reconciled_without_a_second_follow(
    approver, suggestion, fake, target
):
    # The worker asked the platform, the follow happened, and the worker died before writing it down.
    action = follow_action(
        suggestion, approver, state=FollowState.EXECUTING, status=JobStatus.RUNNING, attempts=1,
        lease_expires_at=timezone.now() - timedelta(seconds=1),
    )  # fmt: skip
    fake.following.add(target)
    fake.follows_done.append(target)

    execute_follow(action.pk)

    action = refreshed(action)
    assert (action.state, action.status, action.attempts) == (FollowState.DONE, JobStatus.DONE, 2)
    assert fake.follows_done == [target]
    assert fake.calls(f"/api/v1/accounts/{target}/follow", "POST") == []
    assert len(fake.calls("/api/v1/accounts/relationships")) == 1
    assert audit_verbs(action) == ["follow.executed"]
    assert "found already done" in AuditEvent.objects.get(verb="follow.executed").summary


def test_a_worker_that_died_before_the_platform_heard_follows_after_checking(
    approver, suggestion, fake, target
):
    action = follow_action(
        suggestion, approver, state=FollowState.EXECUTING, status=JobStatus.RUNNING, attempts=1,
        lease_expires_at=timezone.now() - timedelta(seconds=1),
    )  # fmt: skip

    execute_follow(action.pk)

    assert refreshed(action).state == FollowState.DONE
    assert fake.follows_done == [target]
    assert len(fake.calls("/api/v1/accounts/relationships")) == 1


def test_a_lost_answer_is_checked_later_and_never_followed_twice(
    approver, suggestion, fake, target, no_undo_window
):
    action = queue_follow(suggestion, approver)
    fake.fail_next(path="/follow", close=True, after_commit=True)  # the follow happens, its answer is lost

    execute_follow(action.pk)

    action = refreshed(action)
    assert (action.state, action.status) == (FollowState.NEEDS_RECONCILE, JobStatus.QUEUED)
    assert action.waiting_reason.startswith("Checking with the platform at")
    assert action.run_after > timezone.now()
    FollowAction.objects.filter(pk=action.pk).update(run_after=timezone.now())

    execute_follow(action.pk)

    assert refreshed(action).state == FollowState.DONE
    assert fake.follows_done == [target]


def test_a_server_error_before_the_follow_is_checked_and_then_followed(
    approver, suggestion, fake, target, no_undo_window
):
    action = queue_follow(suggestion, approver)
    fake.fail_next(path="/follow", status=503, error="Service Unavailable")

    execute_follow(action.pk)

    assert refreshed(action).state == FollowState.NEEDS_RECONCILE
    assert "503" in action.waiting_reason
    FollowAction.objects.filter(pk=action.pk).update(run_after=timezone.now())
    execute_follow(action.pk)

    assert refreshed(action).state == FollowState.DONE
    assert fake.follows_done == [target]
    assert len(fake.calls("/api/v1/accounts/relationships")) == 1


def test_a_follow_that_keeps_failing_gives_up_visibly_after_its_attempts(approver, suggestion, fake):
    action = follow_action(suggestion, approver, attempts=FollowAction.max_attempts - 1,
                           state=FollowState.NEEDS_RECONCILE)  # fmt: skip
    fake.fail_next(count=2, status=502, error="Bad Gateway")

    execute_follow(action.pk)

    action = refreshed(action)
    assert (action.state, action.status) == (FollowState.FAILED, JobStatus.FAILED)
    assert "502" in action.platform_reason
    assert "may have happened" in AuditEvent.objects.get(verb="follow.failed").summary


def test_a_rate_limited_follow_waits_without_spending_an_attempt(approver, suggestion, fake, no_undo_window):
    action = queue_follow(suggestion, approver)
    fake.fail_next(path="/follow", status=429, error="Too many requests", headers={"Retry-After": "120"})

    execute_follow(action.pk)

    action = refreshed(action)
    assert (action.state, action.status, action.attempts) == (FollowState.QUEUED, JobStatus.QUEUED, 0)
    assert action.waiting_reason.startswith("Waiting for the platform's rate limit until")
    assert action.run_after > timezone.now() + timedelta(seconds=100)
    assert fake.follows_done == []


def test_an_expired_token_fails_the_follow_and_asks_for_reconnecting(
    approver, account, suggestion, fake, no_undo_window
):
    action = queue_follow(suggestion, approver)
    fake.revoke_token(DEFAULT_ACCESS_TOKEN)

    execute_follow(action.pk)

    action = refreshed(action)
    assert (action.state, action.status) == (FollowState.FAILED, JobStatus.FAILED)
    assert "The access token is invalid" in action.platform_reason
    account.refresh_from_db()
    assert account.status == AccountStatus.AUTH_EXPIRED
    failed = AuditEvent.objects.get(verb="follow.failed")
    assert "needs reconnecting. An admin must connect it again, then retry." in failed.summary
    assert AuditEvent.objects.filter(verb="account.auth_expired").count() == 1


def test_a_refusal_from_the_platform_fails_with_its_reason_and_a_retry_follows(
    approver, suggestion, fake, target, no_undo_window, sent_jobs, django_capture_on_commit_callbacks
):
    action = queue_follow(suggestion, approver)
    fake.fail_next(path="/follow", status=422, error="Validation failed: you are blocked")

    execute_follow(action.pk)

    action = refreshed(action)
    assert (action.state, action.status) == (FollowState.FAILED, JobStatus.FAILED)
    assert "Validation failed: you are blocked" in action.platform_reason
    assert fake.follows_done == []

    with django_capture_on_commit_callbacks(execute=True):
        execution.retry_follow(action, by=approver)
    action = refreshed(action)
    assert (action.state, action.status, action.platform_reason) == (FollowState.QUEUED, JobStatus.QUEUED, "")
    assert sent_jobs[-1] == (FOLLOW_TASK, [action.pk], None)

    execute_follow(action.pk)

    assert refreshed(action).state == FollowState.DONE
    assert fake.follows_done == [target]
    assert len(fake.calls("/api/v1/accounts/relationships")) == 1  # a retry reads the relationship back first
    assert audit_verbs(action) == ["follow.queued", "follow.failed", "follow.retried", "follow.executed"]


def test_an_account_gone_from_the_platform_fails_with_the_platforms_words(approver, account, no_undo_window):
    action = queue_follow(approved_suggestion(account, "4242", "gone@remote.example"), approver)

    execute_follow(action.pk)

    action = refreshed(action)
    assert action.state == FollowState.FAILED
    assert "Record not found" in action.platform_reason


def test_only_a_failed_follow_can_be_retried(approver, suggestion):
    action = follow_action(suggestion, approver, state=FollowState.DONE)
    with pytest.raises(FollowRefused, match="Only a failed follow can be retried; this one is followed"):
        execution.retry_follow(action, by=approver)


def test_a_retry_checks_the_daily_cap_again(brand, owner, approver, account, suggestion):
    set_policy(brand, owner, daily_follow_cap=1)
    follow_action(approved_suggestion(account, "1", "a@x"), approver, state=FollowState.DONE,
                  executed_at=timezone.now())  # fmt: skip
    action = follow_action(suggestion, approver, state=FollowState.FAILED, status=JobStatus.FAILED)

    with pytest.raises(FollowRefused, match="Cannot retry now: the daily cap of 1 follows is reached"):
        execution.retry_follow(action, by=approver)
    assert refreshed(action).state == FollowState.FAILED


# The guards at execution.


def test_a_follow_over_the_daily_cap_waits_for_tomorrow_and_says_so(
    brand, owner, approver, account, suggestion, fake
):
    follow_action(approved_suggestion(account, "1", "a@x"), approver, state=FollowState.DONE,
                  executed_at=timezone.now())  # fmt: skip
    action = follow_action(suggestion, approver)
    set_policy(brand, owner, daily_follow_cap=1)  # lowered after the approval

    execute_follow(action.pk)

    action = refreshed(action)
    assert (action.state, action.status, action.attempts) == (FollowState.QUEUED, JobStatus.QUEUED, 0)
    assert action.waiting_reason == "Waiting for tomorrow: today's cap of 1 follow is reached"
    tomorrow = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    assert action.run_after == tomorrow
    assert fake.follows_done == []
    assert audit_verbs(action) == ["follow.waiting"]


def test_at_execution_the_first_queued_follows_of_the_day_go_first(brand, owner, approver, account, fake):
    set_policy(brand, owner, daily_follow_cap=2)
    ids = [fake.add_account(f"p{n}@remote.example") for n in range(3)]
    actions = [follow_action(approved_suggestion(account, i, f"p{n}@remote.example"), approver)
               for n, i in enumerate(ids)]  # fmt: skip

    for action in actions:
        execute_follow(action.pk)

    assert [refreshed(a).state for a in actions] == [FollowState.DONE, FollowState.DONE, FollowState.QUEUED]
    assert fake.follows_done == ids[:2]
    assert actions[2].waiting_reason.startswith("Waiting for tomorrow")


def test_follows_that_waited_for_today_fill_its_cap_first_queued_first_run(
    brand, owner, approver, account, fake, target
):
    set_policy(brand, owner, daily_follow_cap=2)
    today = execution.day_start(timezone.now())
    ids = [fake.add_account(f"w{n}@remote.example") for n in range(3)]
    waiting = [
        follow_action(approved_suggestion(account, i, f"w{n}@remote.example"), approver, run_after=today,
                      created_at=today - timedelta(hours=3) + timedelta(minutes=n),
                      waiting_reason="Waiting for tomorrow: today's cap of 2 follows is reached")
        for n, i in enumerate(ids)
    ]  # fmt: skip

    # Today's approvals find today's cap taken by yesterday's waiting follows.
    fresh = queue_follow(approved_suggestion(account, target, "alice@remote.example"), approver)
    assert fresh.run_after == today + timedelta(days=1)

    for action in reversed(waiting):  # the worker happens to pick the last queued first
        execute_follow(action.pk)

    assert [refreshed(a).state for a in waiting] == [FollowState.DONE, FollowState.DONE, FollowState.QUEUED]
    assert sorted(fake.follows_done) == sorted(ids[:2])
    assert waiting[2].waiting_reason == "Waiting for tomorrow: today's cap of 2 follows is reached"
    assert waiting[2].run_after == today + timedelta(days=1)


def test_the_ratio_guard_is_checked_again_before_following(brand, approver, fake, target):
    account = mastodon_account(brand, fake, followers_count=10)  # following 100: far over 1.5 times 10
    action = follow_action(approved_suggestion(account, target, "alice@remote.example"), approver)

    execute_follow(action.pk)

    assert "would pass 1.5 times 10 followers" in refreshed(action).waiting_reason
    assert fake.follows_done == []


def test_an_account_needing_reconnection_fails_its_follows_without_calling(
    approver, suggestion, account, fake
):
    action = follow_action(suggestion, approver)
    ConnectedAccount.objects.filter(pk=account.pk).update(status=AccountStatus.AUTH_EXPIRED)

    execute_follow(action.pk)

    action = refreshed(action)
    assert action.state == FollowState.FAILED
    assert fake.requests == []


# Lost work.


def test_the_sweeper_sends_a_follow_whose_worker_died_again(approver, suggestion, sent_jobs):
    stuck = follow_action(suggestion, approver, state=FollowState.EXECUTING, status=JobStatus.RUNNING,
                          lease_expires_at=timezone.now() - timedelta(seconds=1))  # fmt: skip

    assert sweep_jobs() >= 1
    assert FollowAction.objects.needing_delivery().filter(pk=stuck.pk).exists()


# The platform's rate limit, before it says no.


def fresh_window_clock(window: int) -> Callable[[], float]:
    """A platform clock at the start of a rate-limit window, so that no window ends while the test runs."""
    start = time.time()
    shift = math.ceil(start / window) * window - start + 1
    return lambda: time.time() + shift


def travel_to(monkeypatch: pytest.MonkeyPatch, moment: datetime, *fakes: FakeMastodon | FakeBluesky) -> None:
    """Our clock and the platforms' at `moment`: for the wait for a reset, without waiting."""
    monkeypatch.setattr(timezone, "now", lambda: moment)
    for server in fakes:
        server.clock = moment.timestamp


@pytest.fixture
def limited(brand: Brand) -> Iterator[FakeMastodon]:
    """A fake Mastodon that allows two requests per hour-long window, starting a fresh window now."""
    with FakeMastodon(
        follower_count=0, rate_limit=2, rate_window=3600, clock=fresh_window_clock(3600)
    ) as server:
        yield server


def queued_follows(
    account: ConnectedAccount, server: FakeMastodon, approver: User, count: int
) -> list[FollowAction]:
    return [
        follow_action(approved_suggestion(account, server.add_account(f"r{n}@x.example"), f"r{n}@x.example"),
                      approver)
        for n in range(count)
    ]  # fmt: skip


def test_after_a_follow_spends_the_last_of_the_budget_the_next_waits_for_the_reset_without_asking(
    brand, approver, limited, monkeypatch
):
    account = mastodon_account(brand, limited)
    first, second, third = queued_follows(account, limited, approver, 3)

    execute_follow(first.pk)
    execute_follow(second.pk)  # the platform answers: none left until the window resets
    budget = AccountRateLimit.objects.get(account=account)
    assert budget.remaining == 0
    assert budget.reset_at is not None
    assert budget.reset_at > timezone.now() + timedelta(minutes=30)
    execute_follow(third.pk)

    third = refreshed(third)
    assert (refreshed(first).state, refreshed(second).state) == (FollowState.DONE, FollowState.DONE)
    assert (third.state, third.status, third.attempts) == (FollowState.QUEUED, JobStatus.QUEUED, 0)
    assert third.run_after == budget.reset_at
    assert third.waiting_reason == f"Waiting for the platform's rate limit until {budget.reset_at:%H:%M} UTC"
    assert [request.outcome for request in limited.requests] == [200, 200]  # never asked, never refused
    assert len(limited.follows_done) == 2

    travel_to(monkeypatch, budget.reset_at + timedelta(seconds=1), limited)
    execute_follow(third.pk)

    assert (refreshed(third).state, third.attempts) == (FollowState.DONE, 1)
    assert len(limited.follows_done) == 3
    assert [request.outcome for request in limited.requests] == [200, 200, 200]


def test_a_retry_whose_read_back_spends_the_budget_waits_before_asking_to_follow(
    brand, approver, limited, monkeypatch
):
    account = mastodon_account(brand, limited)
    fresh, retry = queued_follows(account, limited, approver, 2)
    FollowAction.objects.filter(pk=retry.pk).update(state=FollowState.NEEDS_RECONCILE, attempts=1)

    execute_follow(fresh.pk)  # one request of the window's two
    execute_follow(retry.pk)  # reading the relationship back takes the last

    retry = refreshed(retry)
    assert (retry.state, retry.status, retry.attempts) == (FollowState.NEEDS_RECONCILE, JobStatus.QUEUED, 1)
    assert retry.waiting_reason.startswith("Waiting for the platform's rate limit until")
    assert [(request.path.rsplit("/", 1)[-1], request.outcome) for request in limited.requests] == [
        ("follow", 200),
        ("relationships", 200),
    ]
    assert len(limited.follows_done) == 1

    travel_to(monkeypatch, retry.run_after + timedelta(seconds=1), limited)
    execute_follow(retry.pk)

    assert refreshed(retry).state == FollowState.DONE
    assert len(limited.follows_done) == 2
    assert (
        len(limited.calls("/api/v1/accounts/relationships")) == 2
    )  # still unsure, so it checked again first


def test_a_429_makes_the_accounts_other_follows_wait_without_asking(brand, approver, account, fake):
    first, second = queued_follows(account, fake, approver, 2)
    fake.fail_next(path="/follow", status=429, error="Too many requests", headers={"Retry-After": "600"})

    execute_follow(first.pk)
    execute_follow(second.pk)

    first, second = refreshed(first), refreshed(second)
    assert (first.state, second.state) == (FollowState.QUEUED, FollowState.QUEUED)
    assert (first.attempts, second.attempts) == (0, 0)
    assert second.run_after == first.run_after > timezone.now() + timedelta(minutes=9)
    assert second.waiting_reason.startswith("Waiting for the platform's rate limit until")
    assert len(fake.requests) == 1
    assert fake.follows_done == []


def bluesky_account(brand: Brand, server: FakeBluesky) -> ConnectedAccount:
    session = bluesky.create_session(
        server.brand_handle, server.app_password, service_url=server.url, plc_url=server.url
    )
    credentials = {"did": session.did, "handle": session.handle, "pds_url": session.pds_url,
                   "access_jwt": session.access_jwt, "refresh_jwt": session.refresh_jwt}  # fmt: skip
    return ConnectedAccount.objects.create(
        brand=brand, platform=Platform.BLUESKY, platform_user_id=session.did, handle=session.handle,
        server_url=session.pds_url, credentials_ciphertext=crypto.encrypt_json(credentials),
        followers_count=1000, following_count=100,
    )  # fmt: skip


def test_on_bluesky_a_follow_that_spends_the_budget_makes_the_next_wait_for_the_reset(
    brand, approver, monkeypatch
):
    with FakeBluesky(follower_count=0, rate_window=3600, clock=fresh_window_clock(3600)) as server:
        account = bluesky_account(brand, server)
        dids = [server.add_account(f"fan{n}.test") for n in range(2)]
        first, second = (follow_action(approved_suggestion(account, did, f"fan{n}.test"), approver)
                         for n, did in enumerate(dids))  # fmt: skip
        # The XRPC requests of connecting count against the window (the DID document does not); the first
        # follow's three (getProfiles, listRecords, createRecord) use up the rest.
        server.rate_limit = sum(request.nsid != "identity" for request in server.requests) + 3

        execute_follow(first.pk)
        asked = len(server.requests)
        execute_follow(second.pk)

        budget = AccountRateLimit.objects.get(account=account)
        second = refreshed(second)
        assert refreshed(first).state == FollowState.DONE
        assert (budget.remaining, second.state, second.attempts) == (0, FollowState.QUEUED, 0)
        assert second.run_after == budget.reset_at
        assert len(server.requests) == asked  # the second follow asked nothing
        assert all(request.outcome == 200 for request in server.requests)

        travel_to(monkeypatch, budget.reset_at + timedelta(seconds=1), server)
        execute_follow(second.pk)

        assert refreshed(second).state == FollowState.DONE
        assert [record.subject for record in server.follow_records] == dids


# Two workers at once.


@pytest.mark.django_db(transaction=True)
def test_two_workers_running_the_same_follow_at_the_same_instant_follow_once(brand, approver, account, fake):
    actions = queued_follows(account, fake, approver, 5)

    for action in actions:
        results = at_once(partial(execute_follow, action.pk), partial(execute_follow, action.pk))
        assert sum(result is None for result in results) == 1, (
            results
        )  # one claimed it, the other found it taken
        assert refreshed(action).state == FollowState.DONE

    assert len(fake.follows_done) == 5 == len(set(fake.follows_done))
    assert len([r for r in fake.requests if r.method == "POST" and r.path.endswith("/follow")]) == 5
    assert AuditEvent.objects.filter(verb="follow.executed").count() == 5
