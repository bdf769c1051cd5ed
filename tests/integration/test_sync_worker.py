"""Demo accounts synced end to end by a real Celery worker on Redis, including one killed halfway through."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db.models import Count
from django.utils import timezone

from accounts import connections
from accounts.jobs import JobStatus
from accounts.models import (
    AuditEvent,
    Brand,
    ConnectedAccount,
    Follower,
    FollowEvent,
    FollowEventKind,
    SyncKind,
    SyncRun,
    User,
)
from accounts.platforms.demo import DemoConnector
from followback.tasks import sweep_jobs
from tests.workers import wait_until

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

StartWorker = Callable[..., subprocess.Popen]


def followers_run(account: ConnectedAccount) -> SyncRun:
    return SyncRun.objects.get(account=account, kind=SyncKind.FOLLOWERS)


def first_sync_ids(account: ConnectedAccount) -> set[str]:
    """Who the demo platform says follows the account at its first sync."""
    connector = DemoConnector(
        seed=account.settings["seed"], follower_count=account.settings["size"], brand_handle=account.handle
    )
    return {profile.platform_id for page in connector.iter_follower_pages(None) for profile in page.profiles}


def syncs_settled(account: ConnectedAccount) -> bool:
    """The followers pass and the passes it asked for (engagement, profiles) have all ended."""
    runs = SyncRun.objects.filter(account=account)
    return runs.filter(kind=SyncKind.FOLLOWERS, status=JobStatus.DONE).exists() and not runs.active().exists()


def assert_followers_are_exactly(account: ConnectedAccount, expected: set[str]) -> None:
    followers = Follower.objects.filter(account=account)
    assert followers.count() == len(expected)
    assert set(followers.values_list("platform_id", flat=True)) == expected
    assert followers.filter(is_following=False).count() == 0
    events = FollowEvent.objects.filter(follower__account=account)
    assert events.count() == len(expected)
    assert events.filter(kind=FollowEventKind.FOLLOW).count() == len(expected)
    assert not events.values("follower").annotate(n=Count("id")).filter(n__gt=1).exists()


def test_a_worker_syncs_a_new_demo_account_of_five_thousand_followers(
    brand: Brand, owner: User, start_worker: StartWorker
) -> None:
    start_worker()

    account = connections.connect_demo(brand, 5_000, by=owner)

    wait_until(lambda: syncs_settled(account), seconds=120)
    run = followers_run(account)
    expected = first_sync_ids(account)
    assert len(expected) == 5_000
    assert (run.complete, run.seen, run.created, run.pages, run.attempts) == (True, 5_000, 5_000, 5, 1)
    assert_followers_are_exactly(account, expected)
    finished = AuditEvent.objects.get(verb="sync.finished", target_id=str(run.pk))
    assert finished.data["created"] == 5_000
    account.refresh_from_db()
    assert account.followers_count == 5_000
    assert account.last_synced_at is not None
    assert account.settings["sync_number"] == 1


def test_a_worker_killed_mid_sync_loses_and_duplicates_nothing_once_another_takes_over(
    brand: Brand, owner: User, start_worker: StartWorker
) -> None:
    doomed = start_worker()
    account = connections.connect_demo(brand, 30_000, by=owner)
    run = followers_run(account)
    wait_until(lambda: SyncRun.objects.get(pk=run.pk).pages >= 3, seconds=120)

    doomed.kill()
    doomed.wait(timeout=10)

    run.refresh_from_db()
    assert run.status == JobStatus.RUNNING
    assert not run.complete
    assert 3 <= run.pages < 30
    SyncRun.objects.filter(pk=run.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert sweep_jobs() == 1
    start_worker()

    wait_until(lambda: syncs_settled(account), seconds=240)
    run.refresh_from_db()
    assert (run.status, run.complete, run.attempts) == (JobStatus.DONE, True, 2)
    assert (run.pages, run.seen, run.created) == (30, 30_000, 30_000)  # the page cut short counts once
    assert_followers_are_exactly(account, first_sync_ids(account))
    assert AuditEvent.objects.filter(verb="sync.finished", target_id=str(run.pk)).count() == 1
