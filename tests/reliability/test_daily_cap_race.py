"""A daily cap of 50 while eight worker processes race through 200 approved follows: exactly 50 follows reach the
platform that day, and the other 150 wait, visibly, for tomorrow.

Two real Celery workers with prefork pools of four run the follows at once. Every connection to the fake platform
goes through `FaultProxy`, which holds it 0.2 s before forwarding, so that many follows are talking to the
platform at the same moment: the cap check at execution must count those too.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.utils import timezone

from accounts.jobs import JobStatus
from accounts.models import AuditEvent, Brand, User
from followback.execution import day_start
from followback.models import FollowAction, FollowState
from followback.tasks import sweep_jobs
from tests.followback.test_execution import approved_suggestion, follow_action, mastodon_account, set_policy
from tests.reliability.faultproxy import FaultProxy, FaultRates
from tests.reliability.private_services import Workers
from tests.reliability.test_follow_faults import CountingFake
from tests.workers import wait_until

pytestmark = [pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CAP = 50
QUEUED = 200


def settled(ids: list[int]) -> bool:
    """Every follow is done or waits with a reason, and no worker holds one."""
    actions = FollowAction.objects.filter(pk__in=ids)
    waiting = actions.filter(state=FollowState.QUEUED).exclude(waiting_reason="")
    running = actions.filter(status=JobStatus.RUNNING)
    return (
        actions.filter(state=FollowState.DONE).count() + waiting.count() == len(ids) and not running.exists()
    )


@pytest.mark.timeout(300)
def test_eight_workers_racing_through_200_follows_make_exactly_50_under_a_cap_of_50(
    brand: Brand, approver: User, workers: Workers
) -> None:
    set_policy(brand, approver, daily_follow_cap=CAP)
    fake = CountingFake(follower_count=0, rate_limit=1_000_000)
    with fake:
        upstream = urlsplit(fake.url)
        slow = FaultRates(latency=1.0, latency_seconds=0.2)
        with FaultProxy((upstream.hostname or "127.0.0.1", upstream.port or 80), slow) as proxy:
            account = mastodon_account(brand, fake, server_url=proxy.url, followers_count=10_000)
            targets = [fake.add_account(f"person{n}@remote.example") for n in range(QUEUED)]
            # Approved on earlier days, when the cap still had room: they all wait for today's run.
            ids = [
                follow_action(approved_suggestion(account, target, f"person{n}@remote.example"), approver).pk
                for n, target in enumerate(targets)
            ]
            started = timezone.now()
            workers.start(2, pool="prefork", concurrency=4)
            assert sweep_jobs() == QUEUED
            wait_until(lambda: settled(ids), seconds=240)
        ended = timezone.now()

    actions = FollowAction.objects.filter(pk__in=ids)
    done = actions.filter(state=FollowState.DONE)
    waiting = actions.filter(state=FollowState.QUEUED)
    if day_start(started) != day_start(ended):
        pytest.fail("the run crossed midnight UTC, when a new day's cap begins; run it again")
    assert len(fake.follows_done) == CAP
    assert not fake.redundant_follows
    assert done.count() == CAP
    assert set(done.values_list("follower__platform_id", flat=True)) == set(fake.follows_done)
    assert waiting.count() == QUEUED - CAP
    tomorrow = day_start(started) + timedelta(days=1)
    for action in waiting:
        assert "tomorrow" in action.waiting_reason.lower()
        assert action.status == JobStatus.QUEUED
        assert action.run_after >= tomorrow
    assert AuditEvent.objects.filter(verb="follow.executed").count() == CAP
    assert AuditEvent.objects.filter(verb="follow.waiting").count() >= QUEUED - CAP
    assert proxy.most_open >= 2  # follows really ran side by side
    print(f"{QUEUED} follows, cap {CAP}, 2 workers of 4 processes: {len(fake.follows_done)} real follows, "
          f"{waiting.count()} waiting for tomorrow, at most {proxy.most_open} follows talking to the platform "
          f"at once")  # fmt: skip
