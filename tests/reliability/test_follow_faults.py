"""Approved follows executed through a faulty network and a faulty platform: at most one real follow per approval,
and every follow ends done, failed or waiting to be checked with the platform, with a reason.

The faults: the fake Mastodon server answers 429 with Retry-After, 500, malformed JSON, closes the connection,
hangs past the connector's timeout, or carries out a follow and then loses the answer; between the connector and
the server, `FaultProxy` resets, hangs or slows TCP connections. The fake records every follow request that
reaches it for an account it already follows: our code must never send one (after any doubt it reads the
relationship back first).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from django.utils import timezone

from accounts.jobs import JobStatus
from accounts.models import Brand, User
from accounts.platforms import mastodon
from followback import execution
from followback.models import AccountRateLimit, FollowAction, FollowState
from tests.fakes.mastodon import FakeMastodon
from tests.followback.test_execution import approved_suggestion, follow_action, mastodon_account, set_policy
from tests.reliability.faultproxy import FaultProxy, FaultRates

ROUNDS = 40
PLATFORM_FAULTS: list[dict[str, Any]] = [
    {"status": 429, "headers": {"Retry-After": "1"}},
    {"status": 500},
    {"status": 503, "path": "/follow"},
    {"bad_json": True},
    {"close": True},
    {"hang": 0.6},
    {"status": 500, "after_commit": True, "path": "/follow"},  # the follow happened, the answer was lost
]


class CountingFake(FakeMastodon):
    """The fake, also counting follow requests for accounts it already follows (which must never come)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.redundant_follows: Counter[str] = Counter()

    def _follow(self, *, account_id: str, headers: dict[str, str], **rest: Any) -> Any:
        if account_id in self.following:
            self.redundant_follows[account_id] += 1
        return super()._follow(account_id=account_id, headers=headers, **rest)


@pytest.fixture
def fake() -> Iterator[CountingFake]:
    with CountingFake(follower_count=0, rate_limit=1_000_000) as server:
        yield server


@pytest.fixture
def short_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mastodon, "DEFAULT_TIMEOUT", httpx.Timeout(0.4, connect=0.4))


def run_until_settled(actions: list[int], faults: random.Random, fake: CountingFake) -> int:
    """Execute every unfinished follow, round after round, injecting platform faults; returns the rounds run."""
    for round_number in range(1, ROUNDS + 1):
        open_ids = list(
            FollowAction.objects.filter(pk__in=actions)
            .exclude(state__in=[FollowState.DONE, FollowState.FAILED])
            .values_list("pk", flat=True)
        )
        if not open_ids:
            return round_number - 1
        for _ in range(max(1, len(open_ids) // 8)):
            fake.fail_next(1, **faults.choice(PLATFORM_FAULTS))
        # Time passes: every wait (a rate limit, a backoff, a lease) is over.
        FollowAction.objects.filter(pk__in=open_ids).update(
            run_after=timezone.now() - timedelta(seconds=1),
            lease_expires_at=timezone.now() - timedelta(seconds=1),
        )
        faults.shuffle(open_ids)
        for action_id in open_ids:
            execution.execute_follow(action_id)
            # A 429 makes the account's next follows wait for the reset; here the reset comes at once.
            AccountRateLimit.objects.update(reset_at=timezone.now() - timedelta(seconds=1))
    return ROUNDS


def approvals(brand: Brand, approver: User, fake: CountingFake, proxy: FaultProxy, count: int) -> list[int]:
    set_policy(brand, approver, daily_follow_cap=1000)
    account = mastodon_account(brand, fake, server_url=proxy.url, followers_count=10_000)
    ids = []
    for n in range(count):
        target = fake.add_account(f"person{n}@remote.example")
        ids.append(
            follow_action(approved_suggestion(account, target, f"person{n}@remote.example"), approver).pk
        )
    return ids


def assert_at_most_once_and_every_follow_explained(fake: CountingFake, ids: list[int]) -> Counter[str]:
    actions = list(FollowAction.objects.filter(pk__in=ids).select_related("follower"))
    assert not fake.redundant_follows, (
        f"follow requests for accounts already followed: {fake.redundant_follows}"
    )
    assert len(fake.follows_done) == len(set(fake.follows_done))
    done = {action.follower.platform_id for action in actions if action.state == FollowState.DONE}
    assert done <= set(fake.follows_done)
    assert set(fake.follows_done) <= {action.follower.platform_id for action in actions}
    states: Counter[str] = Counter(action.state for action in actions)
    assert set(states) <= {FollowState.DONE, FollowState.FAILED, FollowState.NEEDS_RECONCILE}
    for action in actions:
        if action.state == FollowState.FAILED:
            assert action.platform_reason or action.last_error
            assert action.status == JobStatus.FAILED
        if action.state == FollowState.NEEDS_RECONCILE:
            assert action.last_error
    return states


def check_faults(brand: Brand, approver: User, fake: CountingFake, count: int, seed: int) -> None:
    upstream = urlsplit(fake.url)
    rates = FaultRates(reset=0.04, hang=0.02, latency=0.1, hang_seconds=0.6, latency_seconds=0.02)
    with FaultProxy((upstream.hostname or "127.0.0.1", upstream.port or 80), rates, seed=seed) as proxy:
        ids = approvals(brand, approver, fake, proxy, count)
        rounds = run_until_settled(ids, random.Random(seed), fake)
    states = assert_at_most_once_and_every_follow_explained(fake, ids)
    faulty = Counter(str(request.outcome) for request in fake.requests if request.outcome != 200)
    print(f"{count} follows in {rounds} rounds: {dict(states)}; proxy {dict(proxy.counts)}; "
          f"platform faults {dict(faulty)}; requests {len(fake.requests)}; failed because "
          f"{Counter(FollowAction.objects.filter(pk__in=ids, state=FollowState.FAILED).values_list('platform_reason', flat=True))}")  # fmt: skip
    assert rounds < ROUNDS or not states.get(FollowState.NEEDS_RECONCILE)
    assert states[FollowState.DONE] >= count * 0.8
    assert proxy.counts["reset"]
    assert proxy.counts["hang"]


@pytest.mark.django_db
def test_200_follows_through_network_and_platform_faults_happen_at_most_once(
    brand: Brand, approver: User, fake: CountingFake, short_timeouts: None
) -> None:
    check_faults(brand, approver, fake, count=200, seed=11)


@pytest.mark.slow
@pytest.mark.django_db
def test_1000_follows_through_network_and_platform_faults_happen_at_most_once(
    brand: Brand, approver: User, fake: CountingFake, short_timeouts: None
) -> None:
    check_faults(brand, approver, fake, count=1000, seed=23)
