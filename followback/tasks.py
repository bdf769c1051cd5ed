from __future__ import annotations

import logging

from celery import shared_task

from accounts.jobs import durable_job_models, send_jobs

log = logging.getLogger(__name__)


@shared_task(name="followback.tasks.sweep_jobs")
def sweep_jobs() -> int:
    """Re-send every job that is due but has no live broker message, or whose worker died holding it."""
    sent = 0
    for model in durable_job_models():
        ids = list(model.objects.needing_delivery().values_list("pk", flat=True)[:5000])
        send_jobs(model, ids)
        sent += len(ids)
    if sent:
        log.info("sweeper re-sent %d jobs", sent)
    return sent
