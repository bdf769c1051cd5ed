from datetime import timedelta

from django.utils import timezone

from accounts.jobs import JobStatus, claim_job, fail_job, finish_job
from accounts.models import Invitation, Role


def _job(brand, **fields) -> Invitation:
    return Invitation.objects.create(
        brand=brand,
        email=f"{len(fields)}-{timezone.now().timestamp()}@example.com",
        role=Role.VIEWER,
        **fields,
    )


def test_a_job_is_claimed_once_even_when_its_message_arrives_twice(brand):
    job = _job(brand)
    assert claim_job(Invitation, job.pk) is not None
    assert claim_job(Invitation, job.pk) is None
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING
    assert job.attempts == 1


def test_a_job_whose_worker_died_can_be_claimed_after_its_lease(brand):
    job = _job(brand, status=JobStatus.RUNNING, lease_expires_at=timezone.now() - timedelta(seconds=1))
    claimed = claim_job(Invitation, job.pk)
    assert claimed is not None
    assert claimed.lease_expires_at is not None
    assert claimed.lease_expires_at > timezone.now()


def test_a_job_is_not_claimed_before_its_time(brand):
    job = _job(brand, run_after=timezone.now() + timedelta(minutes=5))
    assert claim_job(Invitation, job.pk) is None


def test_a_failed_attempt_is_retried_later_until_attempts_run_out(brand):
    job = _job(brand)
    claimed = claim_job(Invitation, job.pk)
    fail_job(claimed, "smtp down", retry_in=timedelta(minutes=1))
    job.refresh_from_db()
    assert (job.status, job.last_error, job.enqueued_at) == (JobStatus.QUEUED, "smtp down", None)
    assert job.run_after > timezone.now()
    job.attempts = job.max_attempts
    fail_job(job, "smtp still down", retry_in=timedelta(minutes=1))
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED


def test_finishing_clears_the_lease_and_error(brand):
    job = claim_job(Invitation, _job(brand, last_error="earlier").pk)
    finish_job(job)
    job.refresh_from_db()
    assert (job.status, job.lease_expires_at, job.last_error) == (JobStatus.DONE, None, "")


def test_only_lost_and_stuck_jobs_need_delivery(brand, settings):
    now = timezone.now()
    grace = timedelta(seconds=settings.JOB_REDELIVERY_GRACE_SECONDS)
    never_sent = _job(brand)
    sent_long_ago = _job(brand, run_after=now - grace * 2, enqueued_at=now - grace * 2)
    stuck = _job(brand, status=JobStatus.RUNNING, lease_expires_at=now - timedelta(seconds=5))
    _job(brand, enqueued_at=now)  # its message is still on its way
    _job(brand, run_after=now - grace / 2, enqueued_at=now - grace * 2)  # sent for a time that just came
    _job(brand, run_after=now + timedelta(hours=1))
    _job(brand, status=JobStatus.RUNNING, lease_expires_at=now + timedelta(minutes=5))
    _job(brand, status=JobStatus.DONE)
    due = set(Invitation.objects.needing_delivery().values_list("pk", flat=True))
    assert due == {never_sent.pk, sent_long_ago.pk, stuck.pk}
