"""Approved follows executed by a real Celery worker on Redis against a fake Mastodon, including a worker killed
while the platform was answering."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from accounts.jobs import JobStatus
from accounts.models import AuditEvent, Brand, ConnectedAccount, User
from followback.execution import queue_follow
from followback.models import FollowAction, FollowState
from followback.tasks import sweep_jobs
from tests.fakes.mastodon import FakeMastodon
from tests.followback.test_execution import approved_suggestion, mastodon_account
from tests.workers import wait_until

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

StartWorker = Callable[..., subprocess.Popen]


@pytest.fixture
def account(brand: Brand, fake: FakeMastodon) -> ConnectedAccount:
    return mastodon_account(brand, fake)


def state_of(action: FollowAction) -> str:
    return FollowAction.objects.values_list("state", flat=True).get(pk=action.pk)


def test_a_worker_executes_an_approved_follow_once_the_undo_window_has_passed(
    approver: User, account: ConnectedAccount, fake: FakeMastodon, start_worker: StartWorker, settings
) -> None:
    settings.FOLLOWBACK_UNDO_SECONDS = 1
    target = fake.add_account("alice@remote.example")
    start_worker()

    with transaction.atomic():
        action = queue_follow(approved_suggestion(account, target, "alice@remote.example"), approver)

    wait_until(lambda: state_of(action) == FollowState.DONE, seconds=60)
    action.refresh_from_db()
    assert action.executed_at is not None
    assert action.executed_at >= action.run_after
    assert (action.status, action.attempts) == (JobStatus.DONE, 1)
    assert fake.follows_done == [target]
    assert AuditEvent.objects.filter(verb="follow.executed", target_id=str(action.pk)).count() == 1
    account.refresh_from_db()
    assert account.following_count == 101


def test_a_worker_killed_while_the_platform_answers_is_reconciled_without_a_second_follow(
    approver: User, account: ConnectedAccount, fake: FakeMastodon, start_worker: StartWorker, settings
) -> None:
    settings.FOLLOWBACK_UNDO_SECONDS = 0
    target = fake.add_account("bob@remote.example")
    fake.fail_next(path="/follow", hang=30, after_commit=True)  # the follow happens; the answer never comes
    doomed = start_worker()

    with transaction.atomic():
        action = queue_follow(approved_suggestion(account, target, "bob@remote.example"), approver)

    wait_until(lambda: fake.follows_done == [target], seconds=60)
    assert state_of(action) == FollowState.EXECUTING  # committed before the call
    doomed.kill()
    doomed.wait(timeout=10)

    FollowAction.objects.filter(pk=action.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert sweep_jobs() == 1
    start_worker()

    wait_until(lambda: state_of(action) == FollowState.DONE, seconds=60)
    action.refresh_from_db()
    assert (action.status, action.attempts) == (JobStatus.DONE, 2)
    assert fake.follows_done == [target]
    follows_asked = fake.calls(f"/api/v1/accounts/{target}/follow", "POST")
    assert [call.outcome for call in follows_asked] == ["hang"]  # asked once, by the worker that died
    assert len(fake.calls("/api/v1/accounts/relationships")) == 1
    executed = AuditEvent.objects.get(verb="follow.executed", target_id=str(action.pk))
    assert executed.data["reconciled"] is True
