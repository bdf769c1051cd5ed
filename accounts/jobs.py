"""Durable jobs: the database, not the broker, is the source of truth for background work.

A job row is queued with a time it may run after; sending it to Celery is only a nudge. A task claims the row
with a conditional UPDATE (so duplicate messages are harmless) and holds a lease while it works. The sweeper
re-sends jobs that are due but were never picked up (a lost broker message) and jobs whose lease ran out
(a killed worker).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import ClassVar, Self, TypeVar

from celery import current_app
from django.apps import apps
from django.conf import settings
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class DurableJobQuerySet(models.QuerySet):
    def needing_delivery(self) -> Self:
        now = timezone.now()
        grace = now - timedelta(seconds=settings.JOB_REDELIVERY_GRACE_SECONDS)
        never_sent = Q(status=JobStatus.QUEUED, run_after__lte=now, enqueued_at__isnull=True)
        overdue = Q(status=JobStatus.QUEUED, run_after__lt=grace, enqueued_at__lt=grace)
        lease_ran_out = Q(status=JobStatus.RUNNING, lease_expires_at__lt=now)
        return self.filter(never_sent | overdue | lease_ran_out)


class DurableJob(models.Model):
    task_name: ClassVar[str]
    lease_seconds: ClassVar[int] = 15 * 60
    max_attempts: ClassVar[int] = 5

    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    run_after = models.DateTimeField(default=timezone.now)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    objects = DurableJobQuerySet.as_manager()

    class Meta:
        abstract = True


J = TypeVar("J", bound=DurableJob)


def durable_job_models() -> Iterator[type[DurableJob]]:
    for model in apps.get_models():
        if issubclass(model, DurableJob):
            yield model


def send_jobs(model: type[DurableJob], ids: list[int], eta: datetime | None = None) -> None:
    """Send one broker message per job after the current transaction commits (delivered at `eta` if given)."""
    if not ids:
        return

    def send() -> None:
        model.objects.filter(pk__in=ids).update(enqueued_at=timezone.now())
        for job_id in ids:
            current_app.send_task(model.task_name, args=[job_id], eta=eta)

    transaction.on_commit(send)


def claim_job(model: type[J], job_id: int) -> J | None:
    """Take the job for this worker, or None when it is not due, already running elsewhere, or finished."""
    now = timezone.now()
    claimable = Q(status=JobStatus.QUEUED, run_after__lte=now) | Q(
        status=JobStatus.RUNNING, lease_expires_at__lt=now
    )
    claimed = model.objects.filter(claimable, pk=job_id).update(
        status=JobStatus.RUNNING,
        lease_expires_at=now + timedelta(seconds=model.lease_seconds),
        attempts=models.F("attempts") + 1,
    )
    return model.objects.get(pk=job_id) if claimed else None


def finish_job(job: DurableJob) -> None:
    job.status = JobStatus.DONE
    job.lease_expires_at = None
    job.last_error = ""
    job.save(update_fields=["status", "lease_expires_at", "last_error"])


def fail_job(job: DurableJob, error: str, retry_in: timedelta | None = None) -> None:
    """Record the failure; retry later unless the job has used all its attempts."""
    job.last_error = error[:2000]
    job.lease_expires_at = None
    if retry_in is not None and job.attempts < job.max_attempts:
        job.status = JobStatus.QUEUED
        job.run_after = timezone.now() + retry_in
        job.enqueued_at = None
    else:
        job.status = JobStatus.FAILED
    job.save(update_fields=["status", "run_after", "enqueued_at", "lease_expires_at", "last_error"])


def defer_job(job: DurableJob, until: datetime, reason: str) -> None:
    """Put the job back to wait (a rate limit, a time budget used up) without spending one of its attempts."""
    job.status = JobStatus.QUEUED
    job.run_after = until
    job.lease_expires_at = None
    job.last_error = reason
    job.attempts = max(0, job.attempts - 1)
    job.save(update_fields=["status", "run_after", "lease_expires_at", "last_error", "attempts"])
    send_jobs(type(job), [job.pk], eta=until)
