from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task

from accounts import connections, services, sync
from accounts.jobs import claim_job, fail_job, finish_job
from accounts.models import Invitation, SyncRun

log = logging.getLogger(__name__)


@shared_task(name="accounts.tasks.send_invitation")
def send_invitation(invitation_id: int) -> None:
    invitation = claim_job(Invitation, invitation_id)
    if invitation is None:
        return
    if invitation.accepted_at or invitation.revoked_at:
        finish_job(invitation)
        return
    try:
        services.send_invitation_email(invitation)
    except OSError as error:
        log.warning("invitation %s: e-mail not sent: %s", invitation_id, error)
        fail_job(invitation, f"e-mail not sent: {error}", retry_in=timedelta(minutes=2**invitation.attempts))
    else:
        finish_job(invitation)


@shared_task(name="accounts.tasks.run_sync")
def run_sync(run_id: int) -> None:
    run = claim_job(SyncRun, run_id)
    if run is not None:
        sync.execute_sync(run)


@shared_task(name="accounts.tasks.schedule_daily_syncs")
def schedule_daily_syncs() -> int:
    return len(connections.request_daily_syncs())
