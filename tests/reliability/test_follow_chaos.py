"""1,000 approved follows executed by real Celery workers that are SIGKILLed again and again, against a platform
that fails one request in eight and a network that resets connections: at most one real follow per approval, and
every follow ends done or failed with a reason.

`test_follow_faults.py` runs the same faults in the test process; here two real worker processes (solo pool) do
the work and are killed together at seeded moments, in the middle of whatever they were doing, then started
again. The test plays beat (the sweeper every second, leases of killed workers run out at once) and lets time
pass (every wait and backoff is over at the next tick), so each follow is retried until it ends.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.utils import timezone

from accounts.jobs import JobStatus
from accounts.models import AuditEvent, Brand, User
from followback.models import FollowAction, FollowState
from followback.tasks import sweep_jobs
from tests.fakes.mastodon import Fault
from tests.followback.test_execution import approved_suggestion, follow_action, mastodon_account, set_policy
from tests.reliability.faultproxy import FaultProxy, FaultRates
from tests.reliability.private_services import Workers
from tests.reliability.test_follow_faults import CountingFake

pytestmark = [pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

FOLLOWS = 1_000
KILL_MOMENTS = 8
FAULT_RATE = 0.125
HTTP_TIMEOUT = 1.5  # the workers' connector timeout (15 s in production)
FAULTS = (
    Fault(status=429, headers={"Retry-After": "1"}),
    Fault(status=500),
    Fault(status=503),
    Fault(hang=HTTP_TIMEOUT + 1),  # no answer before the connector gives up
    Fault(close=True),  # the server closes the connection without answering
    Fault(bad_json=True),
    Fault(status=500, after_commit=True),  # a follow carried out whose answer was lost
)
TERMINAL = (FollowState.DONE, FollowState.FAILED)


class ChaosMastodon(CountingFake):
    """The counting fake, failing each request with probability `rate`, with a fault drawn from FAULTS."""

    def __init__(self, *, seed: int, rate: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._chaos = random.Random(seed)
        self._rate = rate

    def take_fault(self, path: str) -> Fault | None:
        with self._lock:
            if self._chaos.random() < self._rate:
                return self._chaos.choice(FAULTS)
        return None


@pytest.fixture
def worker_env(worker_env: dict[str, str]) -> dict[str, str]:
    return {**worker_env, "FOLLOWBACK_TEST_HTTP_TIMEOUT": str(HTTP_TIMEOUT)}


def let_time_pass(ids: list[int]) -> None:
    """Every wait (a rate limit, a backoff) is over, and so is the sweeper's grace for the messages sent for it."""
    now = timezone.now()
    passed = now - timedelta(seconds=settings.JOB_REDELIVERY_GRACE_SECONDS + 1)
    FollowAction.objects.filter(pk__in=ids, status=JobStatus.QUEUED, run_after__gt=now).update(
        run_after=passed, enqueued_at=passed
    )


def tick_until(workers: Workers, ids: list[int], until: Callable[[], bool], seconds: float) -> None:
    """Every second: restart any worker that exited, let time pass and run the sweeper, until `until()`."""
    deadline = time.monotonic() + seconds
    while not until():
        assert time.monotonic() < deadline, f"the follows did not settle within {seconds}s"
        workers.revive()
        let_time_pass(ids)
        sweep_jobs()
        time.sleep(1)


@pytest.mark.timeout(600)
def test_1000_follows_through_faults_and_worker_kills_happen_at_most_once(
    brand: Brand, approver: User, workers: Workers
) -> None:
    moments = random.Random(59)
    set_policy(brand, approver, daily_follow_cap=1000)
    fake = ChaosMastodon(seed=61, rate=FAULT_RATE, follower_count=0, rate_limit=1_000_000)
    with fake:
        upstream = urlsplit(fake.url)
        rates = FaultRates(reset=0.03)
        with FaultProxy((upstream.hostname or "127.0.0.1", upstream.port or 80), rates, seed=67) as proxy:
            account = mastodon_account(brand, fake, server_url=proxy.url, followers_count=10_000)
            targets = [fake.add_account(f"person{n}@remote.example") for n in range(FOLLOWS)]
            ids = [
                follow_action(approved_suggestion(account, target, f"person{n}@remote.example"), approver).pk
                for n, target in enumerate(targets)
            ]
            actions = FollowAction.objects.filter(pk__in=ids)

            def ended() -> int:
                return actions.filter(state__in=TERMINAL).count()

            workers.start(2)
            for _ in range(KILL_MOMENTS):
                target = min(FOLLOWS, ended() + moments.randint(40, 100))
                tick_until(workers, ids, lambda: ended() >= target, seconds=180)  # noqa: B023
                time.sleep(moments.uniform(0.0, 0.5))
                workers.kill_and_restart()
                # Their leases would run out in five minutes; beat's sweeper would then send those jobs again.
                actions.filter(status=JobStatus.RUNNING).update(lease_expires_at=timezone.now())
            tick_until(workers, ids, lambda: ended() == FOLLOWS, seconds=300)
        faults = Counter(str(request.outcome) for request in fake.requests if request.outcome != 200)

    assert workers.kills == 2 * KILL_MOMENTS
    assert not fake.redundant_follows, (
        f"follow requests for accounts already followed: {fake.redundant_follows}"
    )
    assert len(fake.follows_done) == len(set(fake.follows_done))
    assert set(fake.follows_done) <= set(targets)
    states = Counter(actions.values_list("state", flat=True))
    done = set(actions.filter(state=FollowState.DONE).values_list("follower__platform_id", flat=True))
    assert done <= set(fake.follows_done)
    assert states[FollowState.DONE] >= FOLLOWS * 0.9
    for action in actions.filter(state=FollowState.FAILED):
        assert action.status == JobStatus.FAILED
        assert action.platform_reason or action.last_error
    executed = Counter(AuditEvent.objects.filter(verb="follow.executed").values_list("target_id", flat=True))
    assert executed == Counter(
        {str(pk): 1 for pk in actions.filter(state=FollowState.DONE).values_list("pk", flat=True)}
    )
    followed_but_failed = len(set(fake.follows_done) - done)
    print(f"{FOLLOWS:,} follows, {KILL_MOMENTS} kill moments ({workers.kills} worker processes SIGKILLed, "
          f"{workers.revived} restarted after exiting by themselves): {dict(states)}; {len(fake.follows_done)} real "
          f"follows ({followed_but_failed} of them recorded failed after the answer was lost), redundant follow "
          f"requests 0; {len(fake.requests)} requests; platform faults {dict(faults)}; proxy {dict(proxy.counts)}")  # fmt: skip
