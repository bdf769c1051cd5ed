from __future__ import annotations

import logging

from celery import shared_task

from accounts.jobs import durable_job_models, send_jobs
from followback import digest, execution

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


@shared_task(name="followback.tasks.execute_follow")
def execute_follow(action_id: int) -> None:
    """Run one approved follow; a duplicate message or one for a finished follow does nothing."""
    execution.execute_follow(action_id)


@shared_task(name="followback.tasks.send_daily_digests")
def send_daily_digests() -> int:
    """E-mail each brand's team what waits, once a day after its queue is built (beat checks every 10 minutes)."""
    return digest.send_due_digests()
