"""A real Celery worker SIGKILLed again and again while it syncs 200,000 demo followers: afterwards exactly
200,000 follower rows, no duplicates, every follow event recorded once, and the sync finished."""

from __future__ import annotations

import random
import subprocess
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import connections
from accounts.jobs import JobStatus
from accounts.models import AuditEvent, Brand, SyncRun, User
from followback.tasks import sweep_jobs
from tests.integration.test_sync_worker import (
    assert_followers_are_exactly,
    first_sync_ids,
    followers_run,
    syncs_settled,
)
from tests.workers import wait_until

pytestmark = [pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

StartWorker = Callable[..., subprocess.Popen]
FOLLOWERS = 200_000
KILLS = 20


def moved_on(run_id: int, pages_before: int) -> bool:
    run = SyncRun.objects.get(pk=run_id)
    return run.pages > pages_before or run.complete


@pytest.mark.timeout(900)
def test_twenty_sigkills_during_a_200000_follower_sync_lose_and_duplicate_nothing(
    brand: Brand, owner: User, start_worker: StartWorker
) -> None:
    moments = random.Random(20)
    account = connections.connect_demo(brand, FOLLOWERS, by=owner)
    run = followers_run(account)
    kills = 0
    while kills < KILLS and not SyncRun.objects.get(pk=run.pk).complete:
        worker = start_worker()
        pages_before = SyncRun.objects.get(pk=run.pk).pages
        # Let it claim the run and write at least one page (or end the pass), then kill it at a random moment.
        wait_until(lambda: moved_on(run.pk, pages_before), seconds=120)  # noqa: B023
        time.sleep(moments.uniform(0.0, 0.4))  # a sync writes thousands of followers a second
        worker.kill()
        worker.wait(timeout=10)
        kills += 1
        # What beat's sweeper does once the dead worker's lease runs out.
        SyncRun.objects.filter(pk=run.pk, status=JobStatus.RUNNING).update(
            lease_expires_at=timezone.now() - timedelta(seconds=1)
        )
        sweep_jobs()
    assert kills == KILLS, "the sync finished before the worker could be killed often enough"
    start_worker()

    wait_until(lambda: syncs_settled(account), seconds=600)
    run.refresh_from_db()
    assert (run.status, run.complete, run.seen, run.created) == (JobStatus.DONE, True, FOLLOWERS, FOLLOWERS)
    assert_followers_are_exactly(account, first_sync_ids(account))
    assert AuditEvent.objects.filter(verb="sync.finished", target_id=str(run.pk)).count() == 1
    print(
        f"{kills} SIGKILLs during the sync of {FOLLOWERS:,} followers; {run.pages} pages, {run.attempts} claims"
    )
