"""A real Celery worker process on the real Redis broker, working against the test database."""

import pytest
import redis

from accounts import services
from accounts.jobs import JobStatus
from accounts.models import Invitation, Role
from followback.tasks import sweep_jobs
from tests.workers import wait_until

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _status(invitation: Invitation) -> str:
    invitation.refresh_from_db()
    return invitation.status


def test_a_real_worker_sends_the_invitation_email(brand, owner, start_worker, mail_dir):
    start_worker()
    invitation = services.invite(brand, "worker-test@example.com", Role.REVIEWER, by=owner)
    wait_until(lambda: _status(invitation) == JobStatus.DONE)
    sent = "".join(path.read_text() for path in mail_dir.iterdir())
    assert "worker-test@example.com" in sent
    assert "/invitations/" in sent


def test_the_sweeper_resends_a_job_whose_broker_message_was_lost(brand, owner, start_worker, queue, settings):
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    invitation = services.invite(brand, "lost@example.com", Role.REVIEWER, by=owner)
    assert broker.llen(queue) == 1
    broker.delete(queue)  # what a Redis restart without persistence does to every queued message
    start_worker()
    assert _status(invitation) == JobStatus.QUEUED
    settings.JOB_REDELIVERY_GRACE_SECONDS = 0
    assert sweep_jobs() == 1
    wait_until(lambda: _status(invitation) == JobStatus.DONE)
    assert invitation.attempts == 1
